//! The bpffs pin of `high_prio_cgroups`: what is there before we load, making it
//! root-only, and removing it.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use mus_common::PrioMap;

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

/// Makes the pin root-only and checks that it took.
pub fn restrict(path: &Path) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(PIN_MODE))
        .with_context(|| format!("cannot make {} root-only", path.display()))?;
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode != PIN_MODE {
        bail!("{} has mode {mode:o} after chmod {PIN_MODE:o}", path.display());
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
