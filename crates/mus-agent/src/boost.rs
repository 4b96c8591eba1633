//! Writing the map: a resolved cgroup directory becomes a map entry (or stops
//! being one). Everything else only finds directories.

use std::path::Path;

use mus_common::{CgroupError, CgroupId, PrioMap, PrioMapError, Weight};

#[derive(Debug, thiserror::Error)]
pub enum BoostError {
    #[error("mus-agent must run as root: the scheduler's map is root-only (try sudo)")]
    NotRoot,
    #[error(transparent)]
    Map(#[from] PrioMapError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

/// Writing (and even reading) a pinned BPF map needs CAP_BPF / root; checking up
/// front gives one sentence instead of a kernel EPERM.
pub fn require_root() -> Result<(), BoostError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(BoostError::NotRoot)
    }
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
