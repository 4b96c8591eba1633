//! Building the project's own binaries for a guest. A crate's tests get only their own
//! package's binaries from Cargo (`CARGO_BIN_EXE_*`), and xtask gets none, so whoever
//! boots a guest with mus-runner or mus-agent builds them here first.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::TestbedError;
use crate::paths::workspace_root;

/// Builds the workspace binaries `names`, each the binary of the package of the same
/// name, in one `cargo build` (debug profile: quick to rebuild, and speed does not matter
/// in the guest), and returns their paths in the same order:
/// `let [runner, agent] = build_workspace_bins(["mus-runner", "mus-agent"])?;`. Cargo's
/// progress and messages go to stderr; the paths come from its JSON artifact messages, so
/// a target directory set anywhere Cargo reads one is found.
pub fn build_workspace_bins<const N: usize>(
    names: [&str; N],
) -> Result<[PathBuf; N], TestbedError> {
    // The cargo that runs us (tests, `cargo xtask`), else the one on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .args(["--message-format=json-render-diagnostics", "--bins"]);
    for name in names {
        cmd.args(["--package", name]);
    }
    let command = format!("cargo build --bins --package {}", names.join(" --package "));
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| TestbedError::Command {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(TestbedError::Command {
            command,
            detail: format!("{} (its messages are above)", out.status),
        });
    }
    let built = executables(&String::from_utf8_lossy(&out.stdout));
    let mut paths = [(); N].map(|()| PathBuf::new());
    for (path, name) in paths.iter_mut().zip(names) {
        *path = built
            .iter()
            .find(|(bin, _)| bin == name)
            .map(|(_, path)| path.clone())
            .ok_or_else(|| TestbedError::Command {
                command: command.clone(),
                detail: format!("it reported no binary named {name}"),
            })?;
    }
    Ok(paths)
}

/// (binary name, path) of every binary in Cargo's JSON messages.
fn executables(messages: &str) -> Vec<(String, PathBuf)> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .filter_map(|m| {
            Some((
                m["target"]["name"].as_str()?.to_string(),
                PathBuf::from(m["executable"].as_str()?),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_binaries_in_cargos_messages() {
        // Abridged from `cargo build --message-format=json-render-diagnostics`.
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"mus_common"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"mus-agent"},"executable":"/w/target/debug/mus-agent"}
{"reason":"build-script-executed","package_id":"x"}
not json
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"redis-rate"},"executable":"/w/target/debug/redis-rate"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executables(messages),
            [
                (
                    "mus-agent".to_string(),
                    PathBuf::from("/w/target/debug/mus-agent")
                ),
                (
                    "redis-rate".to_string(),
                    PathBuf::from("/w/target/debug/redis-rate")
                ),
            ]
        );
    }
}
