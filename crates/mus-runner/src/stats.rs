//! The scheduler's counters (read and summed by `mus_common::stats`), printed as
//! one log line by `--stats`.

use std::fmt;

use mus_bpf::intf;
use mus_common::stats::Counters;

/// A log line of counters (usually a delta, [`Counters::since`]).
pub struct Line(pub Counters);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.0;
        let boosted_ns = c.get(intf::mus_stat_idx_MUS_STAT_RUNTIME_BOOSTED_NS);
        let normal_ns = c.get(intf::mus_stat_idx_MUS_STAT_RUNTIME_NORMAL_NS);
        let total = (boosted_ns + normal_ns).max(1) as f64;
        write!(
            f,
            "boosted: runs={} cpu={:.2}s ({:.1}%) | normal: runs={} cpu={:.2}s | \
             dispatch: idle={} shared={} | preemptions={} short slices={} | \
             starvation rescues={} | throttled={} | cgroup activations={} share refreshes={} | \
             map changes={} | steals: owed={} idle={} | cross-cache migrations={} | \
             queue jumps={}",
            c.get(intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED),
            boosted_ns as f64 / 1e9,
            100.0 * boosted_ns as f64 / total,
            c.get(intf::mus_stat_idx_MUS_STAT_RUN_NORMAL),
            normal_ns as f64 / 1e9,
            c.get(intf::mus_stat_idx_MUS_STAT_DISPATCH_IDLE),
            c.get(intf::mus_stat_idx_MUS_STAT_DISPATCH_SHARED),
            c.get(intf::mus_stat_idx_MUS_STAT_PREEMPTIONS),
            c.get(intf::mus_stat_idx_MUS_STAT_SHORT_SLICES),
            c.get(intf::mus_stat_idx_MUS_STAT_STARVATION_RESCUES),
            c.get(intf::mus_stat_idx_MUS_STAT_THROTTLED),
            c.get(intf::mus_stat_idx_MUS_STAT_CGROUP_ACTIVATIONS),
            c.get(intf::mus_stat_idx_MUS_STAT_WEIGHT_REFRESH),
            c.get(intf::mus_stat_idx_MUS_STAT_MAP_CHANGES),
            c.get(intf::mus_stat_idx_MUS_STAT_STEALS),
            c.get(intf::mus_stat_idx_MUS_STAT_IDLE_STEALS),
            c.get(intf::mus_stat_idx_MUS_STAT_LLC_MIGRATIONS),
            c.get(intf::mus_stat_idx_MUS_STAT_QUEUE_JUMPS),
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
        let line = Line(after.since(&before)).to_string();
        assert!(
            line.starts_with("boosted: runs=5 cpu=3.00s (75.0%)"),
            "{line}"
        );
        assert!(line.contains("normal: runs=0 cpu=1.00s"), "{line}");
    }
}
