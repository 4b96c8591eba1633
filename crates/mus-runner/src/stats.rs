//! The scheduler's counters (the per-CPU `stats` map), summed and printed.

use std::fmt;

use libbpf_rs::{MapCore, MapFlags};
use mus_bpf::intf;

const NR_STATS: usize = intf::mus_stat_idx_MUS_NR_STATS as usize;

/// One reading of every counter, summed over CPUs, indexed by `enum mus_stat_idx`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters([u64; NR_STATS]);

impl Counters {
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

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        let mut delta = [0u64; NR_STATS];
        for (i, d) in delta.iter_mut().enumerate() {
            *d = self.0[i].wrapping_sub(earlier.0[i]);
        }
        Counters(delta)
    }

    fn get(&self, idx: intf::mus_stat_idx) -> u64 {
        self.0[idx as usize]
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let boosted_ns = self.get(intf::mus_stat_idx_MUS_STAT_RUNTIME_BOOSTED_NS);
        let normal_ns = self.get(intf::mus_stat_idx_MUS_STAT_RUNTIME_NORMAL_NS);
        let total = (boosted_ns + normal_ns).max(1) as f64;
        write!(
            f,
            "boosted: runs={} cpu={:.2}s ({:.1}%) | normal: runs={} cpu={:.2}s | \
             dispatch: idle={} shared={} | preemptions={} short slices={} | \
             starvation rescues={} | map changes={} weight refreshes={}",
            self.get(intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED),
            boosted_ns as f64 / 1e9,
            100.0 * boosted_ns as f64 / total,
            self.get(intf::mus_stat_idx_MUS_STAT_RUN_NORMAL),
            normal_ns as f64 / 1e9,
            self.get(intf::mus_stat_idx_MUS_STAT_DISPATCH_IDLE),
            self.get(intf::mus_stat_idx_MUS_STAT_DISPATCH_SHARED),
            self.get(intf::mus_stat_idx_MUS_STAT_PREEMPTIONS),
            self.get(intf::mus_stat_idx_MUS_STAT_SHORT_SLICES),
            self.get(intf::mus_stat_idx_MUS_STAT_STARVATION_RESCUES),
            self.get(intf::mus_stat_idx_MUS_STAT_MAP_CHANGES),
            self.get(intf::mus_stat_idx_MUS_STAT_WEIGHT_REFRESH),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_shares_are_printed() {
        let mut before = Counters::default();
        before.0[intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED as usize] = 10;
        let mut after = before;
        after.0[intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED as usize] = 15;
        after.0[intf::mus_stat_idx_MUS_STAT_RUNTIME_BOOSTED_NS as usize] = 3_000_000_000;
        after.0[intf::mus_stat_idx_MUS_STAT_RUNTIME_NORMAL_NS as usize] = 1_000_000_000;
        let line = after.since(&before).to_string();
        assert!(line.starts_with("boosted: runs=5 cpu=3.00s (75.0%)"), "{line}");
        assert!(line.contains("normal: runs=0 cpu=1.00s"), "{line}");
    }
}
