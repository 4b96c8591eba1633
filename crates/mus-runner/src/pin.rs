//! The bpffs pins: `high_prio_cgroups` (what is there before we load, making it
//! root-only, and removing it) and, next to it, the scheduler's counters.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use libbpf_rs::MapMut;
use mus_common::PrioMap;
use mus_common::stats::Counters;

/// Mode of the pin: only root may open the map, so nothing unprivileged can boost
/// itself (or unboost anyone).
const PIN_MODE: u32 = 0o600;

/// A pin left by an earlier runner that died without unpinning (SIGKILL, crash, or a
/// kernel ejection, after which we keep it on purpose).
pub struct StalePin {
    pub entries: usize,
}

/// Looks at the pin path before loading. A map of ours found there is a stale pin
/// whose map the new scheduler will reuse, so its entries (the boosts) survive.
/// Anything else there is refused rather than overwritten.
pub fn inspect(path: &Path) -> Result<Option<StalePin>> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot look at {}", path.display())),
        Ok(_) => {}
    }
    let map = PrioMap::open(path).with_context(|| {
        format!(
            "{} exists but cannot be taken over; if it is not needed, note its entries \
             (`bpftool map dump pinned {0}`) and remove it (`rm {0}`)",
            path.display()
        )
    })?;
    let entries = map.entries()?.len();
    Ok(Some(StalePin { entries }))
}

/// Looks at the counters' pin path before loading. A counters map found there was
/// left by a runner that died without unpinning, and is replaced once we have
/// loaded ([`pin_stats`]); anything else is refused rather than removed.
pub fn inspect_stats(path: &Path) -> Result<()> {
    Counters::open_pinned(path).map(drop).with_context(|| {
        format!(
            "{0} exists but is not a pin of the scheduler's counters; remove it (`rm {0}`)",
            path.display()
        )
    })
}

/// Pins this scheduler's counters at `path`, root-only. A stale pin there (checked
/// by [`inspect_stats`]) is removed first: unlike the map's boosts, a dead
/// scheduler's counters are not worth carrying over, so they restart at 0 (a
/// Prometheus scrape sees a counter reset, which it handles).
pub fn pin_stats(stats: &mut MapMut, path: &Path) -> Result<()> {
    remove(path)?;
    stats
        .pin(path)
        .with_context(|| format!("cannot pin the scheduler's counters at {}", path.display()))?;
    restrict(path)
}

/// Makes the pin root-only and checks that it took.
pub fn restrict(path: &Path) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(PIN_MODE))
        .with_context(|| format!("cannot make {} root-only", path.display()))?;
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode != PIN_MODE {
        bail!(
            "{} has mode {mode:o} after chmod {PIN_MODE:o}",
            path.display()
        );
    }
    Ok(())
}

/// Unpins: on bpffs that is removing the file. The map itself lives on while
/// something (the scheduler) holds it.
pub fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot unpin {}", path.display()))
        }
        _ => Ok(()),
    }
}
