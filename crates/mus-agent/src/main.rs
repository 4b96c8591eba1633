//! mus-agent: the operator's CLI and TUI for boosting pods in the mus scheduler.

use std::process::ExitCode;

use std::io::IsTerminal;

use clap::Parser;
use mus_agent::cli::Cli;
use mus_agent::commands::UsageError;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // clap exits with status 2 on a usage error.
    let cli = Cli::parse();
    let daemon = matches!(cli.command, Some(mus_agent::cli::Command::Watch(_)));
    init_tracing(cli.global.verbose, cli.global.log_json, daemon);
    // Two workers: the watch and one resolution at a time is all the agent runs.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mus-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mus_agent::commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` keeps anyhow's context and the cause on one line.
            eprintln!("mus-agent: {e:#}");
            if e.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn init_tracing(verbose: u8, json: bool, daemon: bool) {
    let level = match verbose {
        // The watch daemon's log is its record of every map change.
        0 if daemon => "mus_agent=info",
        // Library crates (kube's client) log their own copy of errors this program
        // already reports as one sentence: quiet unless asked.
        0 => "mus_agent=warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("MUS_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only for a person at a terminal: a piped or collected log (the
    // DaemonSet's, journald's) would carry the escape sequences as text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
