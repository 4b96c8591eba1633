//! The kernel-config checks: whether a guest kernel (the user's, a downloaded or a built
//! one) can run sched_ext and talk to the test bed at all.

use std::fs;
use std::path::Path;

use crate::error::TestbedError;

/// What a guest kernel must have built in, and why; checked before the first boot so that
/// a wrong kernel fails with the option's name instead of an obscure guest error.
const REQUIRED: &[(&str, &str)] = &[
    ("CONFIG_SCHED_CLASS_EXT", "sched_ext itself"),
    ("CONFIG_BPF_SYSCALL", "loading BPF programs"),
    (
        "CONFIG_DEBUG_INFO_BTF",
        "BTF, which struct_ops schedulers are verified against",
    ),
    (
        "CONFIG_BLK_DEV_INITRD",
        "booting from the generated initramfs",
    ),
    ("CONFIG_DEVTMPFS", "/dev in the guest"),
    (
        "CONFIG_SERIAL_8250_CONSOLE",
        "the serial console the results come back on",
    ),
];

/// Names the first required option that `config` does not set to `y`, with the reason.
pub(crate) fn missing_option(config: &str) -> Option<(&'static str, &'static str)> {
    REQUIRED.iter().copied().find(|(option, _)| {
        !config
            .lines()
            .any(|line| line.trim().strip_prefix(option) == Some("=y"))
    })
}

/// Fails unless the config file at `path` has every required option.
pub(crate) fn check_config(path: &Path) -> Result<(), TestbedError> {
    let text = fs::read_to_string(path)
        .map_err(|e| TestbedError::io(format!("reading kernel config {}", path.display()), e))?;
    match missing_option(&text) {
        None => Ok(()),
        Some((option, why)) => Err(TestbedError::KernelLacksOption {
            config: path.to_path_buf(),
            option,
            why,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "CONFIG_BPF_SYSCALL=y\nCONFIG_SCHED_CLASS_EXT=y\nCONFIG_DEBUG_INFO_BTF=y\n\
        CONFIG_BLK_DEV_INITRD=y\nCONFIG_DEVTMPFS=y\nCONFIG_SERIAL_8250_CONSOLE=y\n";

    #[test]
    fn accepts_a_sched_ext_config() {
        assert_eq!(missing_option(GOOD), None);
    }

    #[test]
    fn names_the_missing_sched_ext_option() {
        let debian_stable = GOOD.replace(
            "CONFIG_SCHED_CLASS_EXT=y",
            "# CONFIG_SCHED_CLASS_EXT is not set",
        );
        assert_eq!(
            missing_option(&debian_stable).map(|(o, _)| o),
            Some("CONFIG_SCHED_CLASS_EXT")
        );
        // A module is not enough: sched_ext cannot be built as one.
        let as_module = GOOD.replace("CONFIG_SCHED_CLASS_EXT=y", "CONFIG_SCHED_CLASS_EXT=m");
        assert!(missing_option(&as_module).is_some());
        // A longer option sharing the prefix must not count.
        let prefix_only = GOOD.replace("CONFIG_DEVTMPFS=y", "CONFIG_DEVTMPFS_MOUNT=y");
        assert_eq!(
            missing_option(&prefix_only).map(|(o, _)| o),
            Some("CONFIG_DEVTMPFS")
        );
    }
}
