//! The peer schedulers the bench runs next to mus: scx_bpfland and scx_layered from
//! crates.io, installed by scripts/install-peers.sh into a cache outside the clone.

use std::path::{Path, PathBuf};

/// The peers, as their binaries are named.
pub const PEERS: &[&str] = &["scx_bpfland", "scx_layered"];

/// The command that installs them (what the error message tells the user to run).
pub const INSTALL_COMMAND: &str = "scripts/install-peers.sh";

/// Where the peers are installed: `MUS_PEERS_DIR`, else `~/.cache/mus/peers` (the
/// binaries are in its `bin/`, as `cargo install --root` puts them).
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("MUS_PEERS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            Path::new(&home).join(".cache/mus/peers")
        }
    }
}

/// The peers' binaries in `dir`'s `bin/`, or an error naming the install command.
pub fn find(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let bins: Vec<PathBuf> = PEERS.iter().map(|p| dir.join("bin").join(p)).collect();
    let missing: Vec<&str> = PEERS
        .iter()
        .zip(&bins)
        .filter(|(_, b)| !b.is_file())
        .map(|(p, _)| *p)
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "peer scheduler(s) {} not found in {}: install them with `{INSTALL_COMMAND}` \
             (cargo install, about 25 minutes the first time; MUS_PEERS_DIR picks another \
             directory), or run the bench without peers: `cargo xtask bench --no-peers`",
            missing.join(", "),
            dir.join("bin").display()
        );
    }
    Ok(bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_peer_is_an_error_that_names_the_install_command() {
        let dir = std::env::temp_dir().join(format!("xtask-peers-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::write(dir.join("bin/scx_bpfland"), "").unwrap();
        let e = find(&dir).unwrap_err().to_string();
        assert!(e.contains("scx_layered not found"), "{e}");
        assert!(!e.contains("scx_bpfland,"), "{e}");
        assert!(e.contains("scripts/install-peers.sh"), "{e}");
        assert!(e.contains("--no-peers"), "{e}");
        std::fs::write(dir.join("bin/scx_layered"), "").unwrap();
        assert_eq!(find(&dir).unwrap().len(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
