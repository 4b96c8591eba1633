//! Whether mus is the scheduler the kernel runs now: what decides between a boost
//! in the map and a boost through `cpu.weight`.
//!
//! sched_ext says so in sysfs (6.12 and later): `state` is `enabled` while a BPF
//! scheduler runs (`disabled` after sysrq-S or when mus-runner stopped,
//! `enabling`/`disabling` mid-way), and `root/ops`, there while a scheduler is
//! loaded, names it: `mus`, the `.name` of mus's `sched_ext_ops`, to which
//! scx_utils' loader appends `_<version>_<build>` (`mus_1.1.4_g…_x86_64…`). A kernel without
//! sched_ext has neither file. Both are read: `root/` outlives the scheduler while
//! it is being disabled.

use std::path::Path;

/// Where the kernel shows sched_ext's state.
pub const SCHED_EXT_SYSFS: &str = "/sys/kernel/sched_ext";

/// The name mus's `sched_ext_ops` registers (`crates/mus-bpf/src/bpf/main.bpf.c`).
const MUS_OPS: &str = "mus";

/// Whether mus is running, as `sysfs` (a sched_ext sysfs directory) shows it now.
pub fn mus_enabled(sysfs: &Path) -> bool {
    let read = |name: &str| std::fs::read_to_string(sysfs.join(name)).ok();
    is_mus(read("state").as_deref(), read("root/ops").as_deref())
}

/// The decision on the two files' text (`None`: missing or unreadable).
fn is_mus(state: Option<&str>, ops: Option<&str>) -> bool {
    let named_mus = ops.map(str::trim).is_some_and(|ops| {
        ops.strip_prefix(MUS_OPS)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
    });
    state.map(str::trim) == Some("enabled") && named_mus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_enabled_mus_counts() {
        assert!(is_mus(Some("enabled\n"), Some("mus\n")));
        // As scx_utils' loader names it.
        assert!(is_mus(
            Some("enabled\n"),
            Some("mus_0.1.0_x86_64_unknown_linux_gnu\n")
        ));
        assert!(!is_mus(Some("enabled\n"), Some("mustard\n")));
        // Ejected (sysrq-S, runner backing off), or another scheduler loaded.
        assert!(!is_mus(Some("disabled\n"), Some("mus\n")));
        assert!(!is_mus(Some("enabling\n"), Some("mus\n")));
        assert!(!is_mus(Some("enabled\n"), Some("scx_bpfland\n")));
        // No sched_ext in the kernel, or no scheduler loaded (no root/).
        assert!(!is_mus(None, None));
        assert!(!is_mus(Some("disabled\n"), None));
    }

    #[test]
    fn reads_the_sysfs_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!mus_enabled(dir.path()));
        std::fs::create_dir(dir.path().join("root")).expect("mkdir");
        std::fs::write(dir.path().join("state"), "enabled\n").expect("state");
        std::fs::write(dir.path().join("root/ops"), "mus\n").expect("ops");
        assert!(mus_enabled(dir.path()));
    }
}
