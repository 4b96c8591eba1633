//! Writing the map: a resolved cgroup directory becomes a map entry (or stops
//! being one). Everything else only finds directories.

use std::path::{Path, PathBuf};

use mus_common::{CgroupError, CgroupId, PrioFlags, PrioMap, PrioMapError, Swap, Weight};

use crate::kube::discovery::in_pod;

#[derive(Debug, thiserror::Error)]
pub enum BoostError {
    #[error(
        "mus-agent must run as root to use the scheduler's map (its pin is root-only): run it with sudo (a non-root user needs CAP_BPF or CAP_SYS_ADMIN, and read-write access to the pin)"
    )]
    NotPrivileged,
    #[error(
        "permission denied opening {path}: the pin is root-only (mode 0600): run mus-agent as root (sudo), or give its user read-write access to the pin"
    )]
    PinDenied { path: PathBuf },
    #[error(
        "no map is pinned at {path}: the runner container of this node's mus pod has not attached the scheduler (see its log: kubectl logs <mus pod> -c runner)"
    )]
    NoRunnerInPod { path: PathBuf },
    #[error(
        "cgroup ID {id} is boosted by mus-agent watch (weight {weight}) for a pod the boost policy grants it: change the pod's annotation or priority class instead, or pass --force (the daemon then leaves your entry alone until you unboost it)"
    )]
    HeldByDaemon { id: CgroupId, weight: u32 },
    #[error(
        "the entry of cgroup ID {id} changed while it was being written (mus-agent watch?): run the command again"
    )]
    Raced { id: CgroupId },
    #[error(transparent)]
    Map(#[from] PrioMapError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

/// Capability numbers (linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// Whether a `/proc/<pid>/status` text shows CAP_BPF or CAP_SYS_ADMIN in the
/// effective set; `None` when it has no readable `CapEff` line.
fn bpf_capable(status: &str) -> Option<bool> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    let caps = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(caps & (1 << CAP_BPF | 1 << CAP_SYS_ADMIN) != 0)
}

/// Refuses up front, in one sentence, the usual mistake: a user who is neither
/// root nor holds CAP_BPF/CAP_SYS_ADMIN (forgot sudo). What opens the pin on the
/// kernels sched_ext runs on is its file mode, not a capability: uid 0 with no
/// capability opens and writes the 0600 pin (the DaemonSet's agent runs so), and a
/// user with CAP_BPF but no access to the file is refused by the kernel, which
/// [`open_map`] turns into a sentence of its own. (A non-root user with neither
/// capability is refused even if given access to the pin, which the runner never
/// gives.) Where `/proc` cannot tell, the kernel's answer is left to speak.
pub fn require_privilege() -> Result<(), BoostError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match bpf_capable(&status) {
        Some(false) => Err(BoostError::NotPrivileged),
        Some(true) | None => Ok(()),
    }
}

/// Opens the pinned map. A missing pin means the runner has not attached; how to
/// start it depends on where the agent runs (the DaemonSet's pod or a host). A
/// refused open is the pin's file mode, whatever the capabilities, unless the mode
/// lets this process in (then bpf() itself was refused: seccomp, or an old kernel).
pub fn open_map(path: &Path) -> Result<PrioMap, BoostError> {
    PrioMap::open(path).map_err(|e| match e {
        PrioMapError::NotPinned { path } if in_pod() => BoostError::NoRunnerInPod { path },
        PrioMapError::PermissionDenied { path } => BoostError::PinDenied { path },
        e => e.into(),
    })
}

/// The map's weights by cgroup ID (inode): what `status`, the TUI and `plan` match
/// cgroup directories against.
pub fn map_weights(path: &Path) -> Result<std::collections::HashMap<u64, u32>, BoostError> {
    Ok(open_map(path)?
        .entries()?
        .into_iter()
        .map(|e| (e.cgroup.0, e.weight))
        .collect())
}

/// Boosts the cgroup at `dir`; returns its ID. An entry `mus-agent watch` owns is
/// refused unless `force` (the daemon would otherwise fight the operator).
pub fn boost(
    map: &PrioMap,
    dir: &Path,
    weight: Weight,
    force: bool,
) -> Result<CgroupId, BoostError> {
    let id = CgroupId::of_path(dir)?;
    boost_id(map, id, weight, force)?;
    Ok(id)
}

/// [`boost`] of a cgroup ID.
pub fn boost_id(
    map: &PrioMap,
    id: CgroupId,
    weight: Weight,
    force: bool,
) -> Result<(), BoostError> {
    change(map, id, Some(weight), force).map(drop)
}

/// Removes the entry of the cgroup at `dir`; `Ok((id, false))` if it had none.
/// An entry `mus-agent watch` owns is refused unless `force`.
pub fn unboost(map: &PrioMap, dir: &Path, force: bool) -> Result<(CgroupId, bool), BoostError> {
    let id = CgroupId::of_path(dir)?;
    Ok((id, unboost_id(map, id, force)?))
}

/// [`unboost`] of a raw cgroup ID (`mus-agent unboost --id`).
pub fn unboost_id(map: &PrioMap, id: CgroupId, force: bool) -> Result<bool, BoostError> {
    change(map, id, None, force)
}

/// Sets (`Some`) or removes (`None`) `id`'s entry as the CLI's, only if it is
/// still what was read, and not a daemon's unless `force`; `false` when there was
/// nothing to remove.
fn change(
    map: &PrioMap,
    id: CgroupId,
    weight: Option<Weight>,
    force: bool,
) -> Result<bool, BoostError> {
    let before = map.get(id)?;
    if let Some(e) = before
        && e.watch_owner().is_some()
        && !force
    {
        return Err(BoostError::HeldByDaemon {
            id,
            weight: e.weight,
        });
    }
    if before.is_none() && weight.is_none() {
        return Ok(false);
    }
    match map.compare_and_swap(id, before, weight.map(|w| (w, PrioFlags::CLI)))? {
        Swap::Done => Ok(true),
        Swap::Lost(_) => Err(BoostError::Raced { id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_capability_passes_and_none_is_refused() {
        let status = |eff: &str| format!("Name:\tmus-agent\nCapPrm:\t0\nCapEff:\t{eff}\n");
        // Root in a privileged container: everything.
        assert_eq!(bpf_capable(&status("000001ffffffffff")), Some(true));
        // A non-root user granted CAP_BPF alone (passes; the pin's mode decides).
        assert_eq!(bpf_capable(&status("0000008000000000")), Some(true));
        // CAP_SYS_ADMIN alone (kernels before 5.8 have no CAP_BPF).
        assert_eq!(bpf_capable(&status("0000000000200000")), Some(true));
        // An unprivileged user.
        assert_eq!(bpf_capable(&status("0000000000000000")), Some(false));
        assert_eq!(bpf_capable("Name:\tx\n"), None);
    }
}
