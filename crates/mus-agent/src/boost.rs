//! Writing the map: a resolved cgroup directory becomes a map entry (or stops
//! being one). Everything else only finds directories.

use std::path::{Path, PathBuf};

use mus_common::{CgroupError, CgroupId, PrioMap, PrioMapError, Weight};

use crate::kube_discovery::in_pod;

#[derive(Debug, thiserror::Error)]
pub enum BoostError {
    #[error(
        "mus-agent needs CAP_BPF (or CAP_SYS_ADMIN) to use the scheduler's map and has neither: run it as root (sudo), or grant it CAP_BPF (in a pod: securityContext.capabilities.add: [BPF])"
    )]
    NoBpfCapability,
    #[error(
        "no map is pinned at {path}: the runner container of this node's mus pod has not attached the scheduler (see its log: kubectl logs <mus pod> -c runner)"
    )]
    NoRunnerInPod { path: PathBuf },
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

/// The bpf() calls on a pinned map need CAP_BPF (or CAP_SYS_ADMIN, which implies
/// it), not root: checking the capability up front gives one sentence instead of a
/// kernel EPERM, and lets the agent run as a non-root user granted CAP_BPF. Where
/// `/proc` cannot tell, the kernel's answer is left to speak.
pub fn require_bpf_capability() -> Result<(), BoostError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match bpf_capable(&status) {
        Some(false) => Err(BoostError::NoBpfCapability),
        Some(true) | None => Ok(()),
    }
}

/// Opens the pinned map. A missing pin means the runner has not attached; how to
/// start it depends on where the agent runs (the DaemonSet's pod or a host).
pub fn open_map(path: &Path) -> Result<PrioMap, BoostError> {
    PrioMap::open(path).map_err(|e| match e {
        PrioMapError::NotPinned { path } if in_pod() => BoostError::NoRunnerInPod { path },
        e => e.into(),
    })
}

/// Boosts the cgroup at `dir`; returns its ID.
pub fn boost(map: &PrioMap, dir: &Path, weight: Weight) -> Result<CgroupId, BoostError> {
    let id = CgroupId::of_path(dir)?;
    map.set(id, weight)?;
    Ok(id)
}

/// Removes the entry of the cgroup at `dir`; `Ok((id, false))` if it had none.
pub fn unboost(map: &PrioMap, dir: &Path) -> Result<(CgroupId, bool), BoostError> {
    let id = CgroupId::of_path(dir)?;
    Ok((id, map.remove(id)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_capability_is_enough_and_none_is_refused() {
        let status = |eff: &str| format!("Name:\tmus-agent\nCapPrm:\t0\nCapEff:\t{eff}\n");
        // Root in a privileged container: everything.
        assert_eq!(bpf_capable(&status("000001ffffffffff")), Some(true));
        // A non-root user granted CAP_BPF alone.
        assert_eq!(bpf_capable(&status("0000008000000000")), Some(true));
        // CAP_SYS_ADMIN alone (kernels before 5.8 have no CAP_BPF).
        assert_eq!(bpf_capable(&status("0000000000200000")), Some(true));
        // An unprivileged user.
        assert_eq!(bpf_capable(&status("0000000000000000")), Some(false));
        assert_eq!(bpf_capable("Name:\tx\n"), None);
    }
}
