//! Writing the map: a resolved cgroup directory becomes a map entry (or stops
//! being one). Everything else only finds directories.

use std::path::Path;

use mus_common::{CgroupError, CgroupId, PrioFlags, PrioMap, PrioMapError, Swap, Weight};

#[derive(Debug, thiserror::Error)]
pub enum BoostError {
    #[error("mus-agent must run as root: the scheduler's map is root-only (try sudo)")]
    NotRoot,
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

/// Writing (and even reading) a pinned BPF map needs CAP_BPF / root; checking up
/// front gives one sentence instead of a kernel EPERM.
pub fn require_root() -> Result<(), BoostError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(BoostError::NotRoot)
    }
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
