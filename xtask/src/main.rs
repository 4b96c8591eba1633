//! `cargo xtask <command>`: project automation, one module per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod cli_docs;
mod demo;
mod guest_opts;
mod seccomp_profile;
mod vm_kernel;
mod vm_run;
mod vm_shell;

/// SCX_MUS project automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The benchmarks (stock, mus and the peer schedulers in one sched_ext guest): CSV, plots and summary under evaluation/.
    Bench(bench::Args),
    /// The demo: boot a sched_ext guest, load mus, boost one of two busy cgroups, show the shares.
    Demo(demo::Args),
    /// Fetch (first time) and verify the sched_ext guest kernel; print where it is cached.
    VmKernel(vm_kernel::Args),
    /// Boot the guest with an interactive busybox shell on this terminal (Ctrl-A X quits).
    VmShell(vm_shell::Args),
    /// Boot the guest with a scenario script; print the console and the parsed results.
    VmRun(vm_run::Args),
    /// Write mus-runner's and mus-agent's man pages (roff), generated from their CLIs.
    Man(cli_docs::ManArgs),
    /// Write mus-runner's and mus-agent's shell completions, generated from their CLIs.
    Completions(cli_docs::CompletionsArgs),
    /// Regenerate the agent's seccomp profile (manifests/seccomp/) from the test bed's containerd, and check it in the guest.
    SeccompProfile(seccomp_profile::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Demo(args) => demo::run(args),
        Command::VmKernel(args) => vm_kernel::run(args),
        Command::VmShell(args) => vm_shell::run(args),
        Command::VmRun(args) => vm_run::run(args),
        Command::Man(args) => cli_docs::man(args),
        Command::Completions(args) => cli_docs::completions(args),
        Command::SeccompProfile(args) => seccomp_profile::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
