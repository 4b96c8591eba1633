//! Checks made before loading anything, each failing with one sentence that says
//! what to do.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{BPF_FS_MAGIC, statfs};
use nix::unistd::geteuid;

/// Where the kernel exposes sched_ext's state.
const SCHED_EXT_SYSFS: &str = "/sys/kernel/sched_ext";

/// Capability bits (linux/capability.h) that can load and attach a scheduler.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "mus-runner must run as root (or with CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON): loading a scheduler is privileged"
    )]
    NotPrivileged,
    #[error(
        "this kernel ({release}) has no sched_ext: boot one built with CONFIG_SCHED_CLASS_EXT=y (and CONFIG_DEBUG_INFO_BTF=y), Linux 6.12 or newer"
    )]
    NoSchedExt { release: String },
    #[error(
        "another sched_ext scheduler, {ops}, is already running: stop it first (a second mus-runner refuses so as not to disturb the first)"
    )]
    OtherScheduler { ops: String },
    #[error(
        "{dir} is not a bpffs mount, so the map cannot be pinned there: run `mount -t bpf bpf {dir}`"
    )]
    NoBpffs { dir: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Runs every check, in the order a user would fix them.
pub fn check(pin_path: &Path) -> Result<(), PreflightError> {
    check_privileges()?;
    check_sched_ext()?;
    check_bpffs(pin_path)
}

fn check_privileges() -> Result<(), PreflightError> {
    if geteuid().is_root() {
        return Ok(());
    }
    let status = read("/proc/self/status")?;
    let has = |cap: u32| effective_caps(&status).is_some_and(|caps| caps & (1 << cap) != 0);
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        Ok(())
    } else {
        Err(PreflightError::NotPrivileged)
    }
}

/// The `CapEff:` bit set of a `/proc/<pid>/status` text.
fn effective_caps(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn check_sched_ext() -> Result<(), PreflightError> {
    let root = Path::new(SCHED_EXT_SYSFS);
    if !root.is_dir() {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        return Err(PreflightError::NoSchedExt { release });
    }
    let state = read(root.join("state"))?;
    if state.trim() == "disabled" {
        return Ok(());
    }
    // "enabled", or "enabling"/"disabling" while another loader is mid-way.
    let ops = fs::read_to_string(root.join("root/ops"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("(state {})", state.trim()));
    Err(PreflightError::OtherScheduler { ops })
}

/// The pin's directory, or the nearest existing one above it (the runner makes
/// `/sys/fs/bpf/mus` itself), must be on bpffs.
fn check_bpffs(pin_path: &Path) -> Result<(), PreflightError> {
    let dir = pin_path.parent().unwrap_or(Path::new("/"));
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    match statfs(existing) {
        Ok(st) if st.filesystem_type() == BPF_FS_MAGIC => Ok(()),
        _ => Err(PreflightError::NoBpffs {
            dir: existing.to_path_buf(),
        }),
    }
}

fn read(path: impl AsRef<Path>) -> Result<String, PreflightError> {
    let path = path.as_ref();
    fs::read_to_string(path).map_err(|source| PreflightError::Io {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_caps_are_parsed() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_caps(status), Some(0x1ff_ffff_ffff));
        assert_eq!(effective_caps("Name:\tx\n"), None);
    }

    #[test]
    fn a_directory_outside_bpffs_is_refused_with_the_mount_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = check_bpffs(&dir.path().join("high_prio_cgroups")).unwrap_err();
        assert!(err.to_string().contains("mount -t bpf bpf"), "{err}");
        // A pin directory yet to be made is judged by the directory it would be made in.
        let err = check_bpffs(&dir.path().join("mus/high_prio_cgroups")).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("{} is not", dir.path().display())),
            "{err}"
        );
    }
}
