//! The contract between `mus-runner` and `mus-agent`.
//!
//! The two processes never talk to each other: the runner pins the scheduler's map
//! `high_prio_cgroups` on bpffs and the agent (or any root tool) writes cgroup IDs
//! and weights into it. This crate is the one place that knows how: where the pin
//! lives, what a valid weight is, how a cgroup becomes an ID, and a typed handle to
//! the map whose value layout comes from the scheduler's own `intf.h`. The runner
//! also pins the scheduler's counters next to the map ([`stats`]), read-only for
//! the agent's metrics. [`shares`] is the model of what share of the CPUs each cgroup
//! gets under contention, which `mus-agent plan` and the bench's theories share.

pub mod cgroup;
pub mod prio_map;
pub mod shares;
pub mod stats;
pub mod weight;

use std::path::{Path, PathBuf};

pub use cgroup::{CgroupError, CgroupId};
pub use prio_map::{Entry, OwnerId, PrioFlags, PrioMap, PrioMapError, Swap};
pub use weight::{Weight, WeightError};

/// Name of the scheduler's map, as the kernel and `bpftool map list` show it.
pub const MAP_NAME: &str = "high_prio_cgroups";

/// Where `mus-runner` pins the map unless told otherwise (`--pin-path`): in a directory
/// of mus's own (mode 0700, made by the runner), next to the counters.
pub const DEFAULT_PIN_PATH: &str = "/sys/fs/bpf/mus/high_prio_cgroups";

/// Where runners before the `mus/` directory pinned the map; the runner moves a map it
/// finds there to [`DEFAULT_PIN_PATH`], boosts included.
pub const LEGACY_PIN_PATH: &str = "/sys/fs/bpf/high_prio_cgroups";

/// How many cgroups the map holds.
pub const MAP_CAPACITY: u32 = mus_bpf::intf::mus_consts_MUS_MAP_MAX_ENTRIES;

/// File name of the scheduler's counters (the per-CPU `stats` map), pinned by
/// `mus-runner` in the directory of the map's pin.
pub const STATS_PIN_NAME: &str = "mus_stats";

/// Where the counters are pinned for the map pinned at `pin_path`: next to it, so
/// that `--pin-path` moves both.
pub fn stats_pin_path(pin_path: &Path) -> PathBuf {
    pin_path.with_file_name(STATS_PIN_NAME)
}
