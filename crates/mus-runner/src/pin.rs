//! The bpffs pins: the directory they live in, the move from the old path, making a
//! pin root-only and removing it; `high_prio_cgroups` and, next to it, the maps of
//! one load ([`LoadPin`]: the scheduler's counters and its wait histograms). (What a
//! pinned map holds is `migrate`'s business.)

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libbpf_rs::MapMut;
use mus_common::stats::Counters;
use mus_common::waits::Waits;
use mus_common::{DEFAULT_PIN_PATH, LEGACY_PIN_PATH};
use tracing::{info, warn};

/// Mode of the pin: only root may open the map, so nothing unprivileged can boost
/// itself (or unboost anyone).
const PIN_MODE: u32 = 0o600;

/// Mode of the pin directory of the default path: only root may even list it.
const DIR_MODE: u32 = 0o700;

/// Makes the directory of `pin_path` if it is missing, root-only; the default
/// directory (`/sys/fs/bpf/mus`) is made root-only even if it exists, since it is ours.
pub fn prepare_dir(pin_path: &Path) -> Result<()> {
    let Some(dir) = pin_path.parent() else {
        return Ok(());
    };
    let ours = Some(dir) == Path::new(DEFAULT_PIN_PATH).parent();
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .with_context(|| format!("cannot create the pin directory {}", dir.display()))?;
    } else if !ours {
        return Ok(());
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
        .with_context(|| format!("cannot make {} root-only", dir.display()))
}

/// Moves a map pinned at the pre-`mus/` path ([`LEGACY_PIN_PATH`]) to `pin_path`, when
/// that is the default path and free, so that an upgraded runner finds the boosts where
/// it now looks; from there it is reused or migrated like any earlier pin. The old
/// counters' pin next to it is dropped (counters start over at every load anyway).
pub fn adopt_legacy(pin_path: &Path) -> Result<()> {
    let legacy = Path::new(LEGACY_PIN_PATH);
    if pin_path != Path::new(DEFAULT_PIN_PATH) || fs::symlink_metadata(legacy).is_err() {
        return Ok(());
    }
    if fs::symlink_metadata(pin_path).is_ok() {
        warn!(
            legacy = %legacy.display(),
            "a map is pinned both at the old and at the new path; using {} and leaving the              old one alone (`rm {}` once its entries are not needed)",
            pin_path.display(),
            legacy.display()
        );
        return Ok(());
    }
    fs::rename(legacy, pin_path).with_context(|| {
        format!(
            "cannot move the map pinned at {} to {}",
            legacy.display(),
            pin_path.display()
        )
    })?;
    info!(from = %legacy.display(), to = %pin_path.display(), "moved the pinned map to its new path");
    let legacy_stats = mus_common::stats_pin_path(legacy);
    if matches!(Counters::open_pinned(&legacy_stats), Ok(Some(_))) {
        remove(&legacy_stats)?;
    }
    Ok(())
}

/// A map of one load that the runner pins next to the boosts' map, root-only. Unlike
/// the boosts, a dead scheduler's are not worth carrying over: each load pins its own
/// (a stale pin is replaced) and a stop the operator asked for removes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadPin {
    /// The per-CPU counters (`mus_stats`).
    Counters,
    /// The run-queue wait histograms per cgroup (`mus_cgroup_waits`).
    Waits,
}

impl LoadPin {
    pub const ALL: [LoadPin; 2] = [LoadPin::Counters, LoadPin::Waits];

    /// Where it is pinned for the map pinned at `pin_path`.
    pub fn path(self, pin_path: &Path) -> PathBuf {
        match self {
            LoadPin::Counters => mus_common::stats_pin_path(pin_path),
            LoadPin::Waits => mus_common::waits_pin_path(pin_path),
        }
    }

    /// Looks at its pin path before loading. A map of ours found there was left by a
    /// runner that died without unpinning, and is replaced once we have loaded
    /// ([`LoadPin::pin`]); anything else is refused rather than removed.
    pub fn inspect(self, pin_path: &Path) -> Result<()> {
        let path = self.path(pin_path);
        let checked = match self {
            LoadPin::Counters => Counters::open_pinned(&path).map(drop),
            LoadPin::Waits => Waits::open_pinned(&path).map(drop),
        };
        checked.with_context(|| {
            format!(
                "{0} exists but is not a pin of the scheduler's {self:?}; remove it (`rm {0}`)",
                path.display()
            )
        })
    }

    /// Pins this load's `map` at its path next to `pin_path`, root-only, replacing a
    /// stale pin (checked by [`LoadPin::inspect`]): counters restart at 0 (a Prometheus
    /// scrape sees a counter reset, which it handles), and so do the histograms.
    pub fn pin(self, map: &mut MapMut, pin_path: &Path) -> Result<()> {
        let path = self.path(pin_path);
        remove(&path)?;
        map.pin(&path).with_context(|| {
            format!("cannot pin the scheduler's {self:?} at {}", path.display())
        })?;
        restrict(&path)
    }
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

/// Removes the map's pin and the pins of the load's maps next to it, for a stop the
/// operator asked for.
pub fn remove_all(pin_path: &Path) -> Result<()> {
    remove_load_pins(pin_path)?;
    remove(pin_path)
}

/// Removes the pins of the load's maps next to `pin_path`.
pub fn remove_load_pins(pin_path: &Path) -> Result<()> {
    LoadPin::ALL
        .iter()
        .try_for_each(|pin| remove(&pin.path(pin_path)))
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
