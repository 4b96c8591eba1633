//! `cargo xtask seccomp-profile`: regenerate manifests/seccomp/mus-agent.json, the
//! agent's Localhost seccomp profile, from the containerd of the QEMU test bed, then
//! check the agent under it there.
//!
//! Both steps are mus-agent's guest test tests/vm_seccomp.rs. With
//! MUS_SECCOMP_REGENERATE set, it writes the profile it reads back from the guest's
//! containerd (RuntimeDefault for a container with no capabilities, plus bpf)
//! instead of comparing it with the committed one; the second boot, without it,
//! takes the new file into the guest and runs every check. The profile is made in
//! one place only, so the file and its check cannot disagree.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

/// The variable tests/common/seccomp.rs calls REGENERATE_ENV (test code, which this
/// crate cannot import).
const REGENERATE_ENV: &str = "MUS_SECCOMP_REGENERATE";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only regenerate: skip the second boot, which checks the agent under the new
    /// profile.
    #[arg(long)]
    no_check: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    guest_test(true)?;
    if !args.no_check {
        guest_test(false)?;
    }
    println!(
        "regenerated manifests/seccomp/mus-agent.json from the test bed's containerd{}; \
         review it with `git diff manifests/seccomp/`",
        if args.no_check {
            ""
        } else {
            " and checked the agent under it"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs the guest test, regenerating the profile or checking it.
fn guest_test(regenerate: bool) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(mus_testbed::workspace_root())
        .args(["test", "-p", "mus-agent", "--test", "vm_seccomp"])
        .args(["--", "--nocapture"]);
    if regenerate {
        command.env(REGENERATE_ENV, "1");
    } else {
        command.env_remove(REGENERATE_ENV);
    }
    let status = command
        .status()
        .context("running mus-agent's guest test vm_seccomp")?;
    if !status.success() {
        let what = if regenerate {
            "reading containerd's default profile in the guest"
        } else {
            "checking the agent under the new profile in the guest"
        };
        bail!("{what} failed ({status}); the test's output above says why");
    }
    Ok(())
}
