//! The scheduler's counters: its per-CPU `stats` array, indexed by `enum
//! mus_stat_idx` of `intf.h` and declared once in [`COUNTERS`]. mus-runner reads them
//! from its own skeleton (and prints them with `--stats`) and pins the array at
//! [`crate::stats_pin_path`], where `mus-runner --monitor` and mus-agent's metrics
//! read them; all of them sum them here.

mod table;

use std::path::Path;

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};
use mus_bpf::intf;

pub use table::{COUNTERS, Counter, Unit};

use crate::pinned::{self, Expected, PinnedMapError};

/// How many counters this build knows.
pub const NR_STATS: usize = intf::mus_stat_idx_MUS_NR_STATS as usize;

const KEY_SIZE: u32 = size_of::<u32>() as u32;
const VALUE_SIZE: u32 = size_of::<u64>() as u32;

/// One reading of every counter, summed over CPUs, indexed by `enum mus_stat_idx`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub [u64; NR_STATS]);

/// Why the pinned counters could not be opened or read.
pub type StatsError = PinnedMapError;

/// What the counters' pin must be (its length may differ between versions).
const EXPECTED: Expected = Expected {
    what: "counters",
    map_type: MapType::PercpuArray,
    key_size: KEY_SIZE,
    value_size: VALUE_SIZE,
};

impl Counters {
    /// Sums every counter over the CPUs. A counter the map lacks (pinned by a runner
    /// of an older version) reads 0.
    pub fn read(map: &impl MapCore) -> Result<Counters, libbpf_rs::Error> {
        let mut sums = [0u64; NR_STATS];
        for (idx, sum) in sums.iter_mut().enumerate() {
            let key = (idx as u32).to_ne_bytes();
            let per_cpu = map.lookup_percpu(&key, MapFlags::ANY)?.unwrap_or_default();
            *sum = per_cpu
                .iter()
                .filter_map(|v| v.get(..8)?.try_into().ok().map(u64::from_ne_bytes))
                .fold(0u64, u64::wrapping_add);
        }
        Ok(Counters(sums))
    }

    /// Opens the counters pinned at `path`, checking that they look like ours (a
    /// per-CPU array of u64 indexed by u32; its length may differ between versions).
    /// `Ok(None)`: nothing is pinned there (no runner running).
    pub fn open_pinned(path: &Path) -> Result<Option<MapHandle>, StatsError> {
        pinned::open(path, EXPECTED)
    }

    /// [`Counters::open_pinned`], then [`Counters::read`].
    pub fn read_pinned(path: &Path) -> Result<Option<Counters>, StatsError> {
        let Some(map) = Counters::open_pinned(path)? else {
            return Ok(None);
        };
        Counters::read(&map)
            .map(Some)
            .map_err(pinned::read_error(path))
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        let mut delta = [0u64; NR_STATS];
        for (i, d) in delta.iter_mut().enumerate() {
            *d = self.0[i].wrapping_sub(earlier.0[i]);
        }
        Counters(delta)
    }

    /// The counter `idx` (an `intf::mus_stat_idx_MUS_STAT_*`).
    pub fn get(&self, idx: intf::mus_stat_idx) -> u64 {
        self.0[idx as usize]
    }

    /// Every counter's declaration with its value, in the table's order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Counter, u64)> + '_ {
        COUNTERS.iter().map(|c| (c, self.get(c.idx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_wrap_like_the_counters() {
        let mut before = Counters::default();
        before.0[0] = u64::MAX;
        let mut after = Counters::default();
        after.0[0] = 4;
        after.0[1] = 7;
        let delta = after.since(&before);
        assert_eq!(delta.get(intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED), 5);
        assert_eq!(delta.get(intf::mus_stat_idx_MUS_STAT_RUN_NORMAL), 7);
    }

    #[test]
    fn iter_pairs_each_declaration_with_its_value() {
        let mut c = Counters::default();
        c.0[intf::mus_stat_idx_MUS_STAT_QUEUE_JUMPS as usize] = 9;
        assert_eq!(c.iter().count(), NR_STATS);
        let (decl, value) = c
            .iter()
            .find(|(d, _)| d.idx == intf::mus_stat_idx_MUS_STAT_QUEUE_JUMPS)
            .expect("declared");
        assert_eq!((decl.name, value), ("queue_jumps", 9));
    }
}
