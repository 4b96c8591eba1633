//! Checks made before loading anything, each failing with one sentence that says
//! what to do.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use libbpf_rs::Btf;
use libbpf_rs::btf::types::Struct;
use nix::sys::statfs::{BPF_FS_MAGIC, statfs};
use nix::unistd::geteuid;

/// Where the kernel exposes sched_ext's state.
const SCHED_EXT_SYSFS: &str = "/sys/kernel/sched_ext";

/// Capability bits (linux/capability.h) that can load and attach a scheduler.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// A callback that `struct sched_ext_ops` has only when the kernel was built with
/// `CONFIG_EXT_GROUP_SCHED` (6.12 and every later kernel put all the `cgroup_*` callbacks
/// under that option). Without it libbpf, through scx's compat open, drops mus's cgroup
/// callbacks without a word, and cpu.weight and cpu.max would not hold. The kernel's own
/// BTF says so on any kernel that can run sched_ext, where a config file may be absent
/// (`/proc/config.gz` needs `CONFIG_IKCONFIG_PROC`, `/boot/config-*` a distribution).
const GROUP_SCHED_CALLBACK: &str = "cgroup_init";

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
        "this kernel ({release}) was built without CONFIG_EXT_GROUP_SCHED, so sched_ext would drop mus's cgroup callbacks and neither cpu.weight nor cpu.max would hold: boot one built with CONFIG_EXT_GROUP_SCHED=y (the default when CONFIG_CGROUP_SCHED=y)"
    )]
    NoGroupSched { release: String },
    #[error(
        "the kernel's BTF does not describe struct sched_ext_ops ({reason}), so it cannot run a sched_ext scheduler: boot one built with CONFIG_SCHED_CLASS_EXT=y and CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoOpsBtf { reason: String },
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
    check_group_sched()?;
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
        return Err(PreflightError::NoSchedExt {
            release: kernel_release(),
        });
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

/// Refuses a kernel whose sched_ext has no cgroup callbacks (see [`GROUP_SCHED_CALLBACK`]).
fn check_group_sched() -> Result<(), PreflightError> {
    let btf = Btf::from_vmlinux().map_err(|e| PreflightError::NoOpsBtf {
        reason: e.to_string(),
    })?;
    if ops_have_cgroup_callbacks(&btf)? {
        Ok(())
    } else {
        Err(PreflightError::NoGroupSched {
            release: kernel_release(),
        })
    }
}

/// Whether `btf`'s `struct sched_ext_ops` has the callbacks `CONFIG_EXT_GROUP_SCHED` adds.
fn ops_have_cgroup_callbacks(btf: &Btf) -> Result<bool, PreflightError> {
    let ops: Struct =
        btf.type_by_name("sched_ext_ops")
            .ok_or_else(|| PreflightError::NoOpsBtf {
                reason: "no such struct".into(),
            })?;
    Ok(ops
        .iter()
        .any(|member| member.name == Some(OsStr::new(GROUP_SCHED_CALLBACK))))
}

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
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
    use std::io::Write;

    use super::*;

    /// A raw BTF file (the format of `/sys/kernel/btf/vmlinux`) holding an `int` and a
    /// struct named `name` with one `int` member per name in `members`: a kernel's BTF as
    /// far as the group-scheduling check reads it.
    fn kernel_btf(name: &str, members: &[&str]) -> tempfile::NamedTempFile {
        const BTF_KIND_INT: u32 = 1;
        const BTF_KIND_STRUCT: u32 = 4;
        let mut strings = b"\0".to_vec();
        let mut string = |s: &str| {
            let off = strings.len() as u32;
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            off
        };
        // type 1: int, 32 bits; type 2: the struct, one 4-byte member after another
        let mut types = vec![string("int"), BTF_KIND_INT << 24, 4, 32];
        let n = members.len() as u32;
        types.extend([string(name), BTF_KIND_STRUCT << 24 | n, 4 * n]);
        for (i, member) in members.iter().enumerate() {
            types.extend([string(member), 1, 32 * i as u32]);
        }
        let type_len = 4 * types.len() as u32;
        let header = [24, 0, type_len, type_len, strings.len() as u32];
        let mut bytes = vec![0x9f, 0xeb, 1, 0];
        for word in header.iter().chain(&types) {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes.extend_from_slice(&strings);
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&bytes).expect("write BTF");
        file
    }

    fn has_group_sched(ops_members: &[&str]) -> Result<bool, PreflightError> {
        let file = kernel_btf("sched_ext_ops", ops_members);
        let btf = Btf::from_path(file.path()).expect("the fake BTF parses");
        ops_have_cgroup_callbacks(&btf)
    }

    #[test]
    fn a_kernel_whose_sched_ext_ops_has_cgroup_callbacks_has_group_scheduling() {
        // 6.12 with CONFIG_EXT_GROUP_SCHED=y, abridged
        let ops = [
            "enqueue",
            "dispatch",
            "cgroup_init",
            "cgroup_move",
            "init",
            "name",
        ];
        assert!(has_group_sched(&ops).expect("sched_ext_ops is there"));
    }

    #[test]
    fn a_kernel_without_cgroup_callbacks_is_refused_with_the_option_to_set() {
        // the same kernel built without it: the callbacks are not in the struct at all
        let ops = [
            "enqueue",
            "dispatch",
            "dump_task",
            "cpu_online",
            "init",
            "name",
        ];
        assert!(!has_group_sched(&ops).expect("sched_ext_ops is there"));
        let err = PreflightError::NoGroupSched {
            release: "6.12.0-test".into(),
        };
        let msg = err.to_string();
        assert!(
            msg.contains("(6.12.0-test) was built without CONFIG_EXT_GROUP_SCHED")
                && msg.contains("neither cpu.weight nor cpu.max would hold")
                && msg.contains("CONFIG_EXT_GROUP_SCHED=y"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "one sentence, one line: {msg}");
    }

    #[test]
    fn a_kernel_btf_without_sched_ext_ops_is_refused() {
        let file = kernel_btf("sched_class", &["enqueue_task"]);
        let btf = Btf::from_path(file.path()).expect("the fake BTF parses");
        let err = ops_have_cgroup_callbacks(&btf).unwrap_err();
        assert!(
            err.to_string().contains("CONFIG_SCHED_CLASS_EXT=y"),
            "{err}"
        );
    }

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
