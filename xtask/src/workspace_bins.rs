//! Building the project's binaries for the guest.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// Builds `packages`' binaries (debug profile: quick to rebuild, and Rust speed
/// does not matter in the guest) and returns the directory they are in.
pub fn build(packages: &[&str]) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--bins"]);
    for p in packages {
        cmd.args(["--package", p]);
    }
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("building {} failed", packages.join(", "));
    }
    Ok(mus_testbed::workspace_root().join("target").join("debug"))
}
