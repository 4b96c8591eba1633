//! The scheduler's counters (read and summed by `mus_common::stats`, declared in its
//! table) as one line: `name=value` for each, in the table's order, time in seconds,
//! after the boosted cgroups' share of the CPU time. `--stats` logs it, `--monitor`
//! prints it.

use std::fmt;

use mus_bpf::intf;
use mus_common::stats::{Counters, Unit};

/// A line of counters (usually a delta, [`Counters::since`]).
pub struct Line(pub Counters);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.0;
        let boosted_ns = c.get(intf::mus_stat_idx_MUS_STAT_RUNTIME_BOOSTED_NS);
        let normal_ns = c.get(intf::mus_stat_idx_MUS_STAT_RUNTIME_NORMAL_NS);
        let total = boosted_ns.saturating_add(normal_ns).max(1) as f64;
        write!(
            f,
            "boosted_cpu_share={:.1}%",
            100.0 * boosted_ns as f64 / total
        )?;
        for (counter, value) in c.iter() {
            match counter.unit {
                Unit::Events => write!(f, " {}={value}", counter.name)?,
                Unit::Nanoseconds => write!(
                    f,
                    " {}={:.2}s",
                    counter.name,
                    counter.unit.in_base_unit(value)
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mus_common::stats::{COUNTERS, NR_STATS};

    use super::*;

    #[test]
    fn deltas_shares_and_every_counter_are_printed() {
        let mut before = Counters::default();
        before.0[intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED as usize] = 10;
        let mut after = before;
        after.0[intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED as usize] = 15;
        after.0[intf::mus_stat_idx_MUS_STAT_RUNTIME_BOOSTED_NS as usize] = 3_000_000_000;
        after.0[intf::mus_stat_idx_MUS_STAT_RUNTIME_NORMAL_NS as usize] = 1_000_000_000;
        after.0[intf::mus_stat_idx_MUS_STAT_QUEUE_JUMPS as usize] = 4;
        let line = Line(after.since(&before)).to_string();
        assert!(line.starts_with("boosted_cpu_share=75.0% "), "{line}");
        for word in [
            "runs_boosted=5",
            "runs_normal=0",
            "runtime_boosted=3.00s",
            "runtime_normal=1.00s",
            "queue_jumps=4",
        ] {
            assert!(line.split(' ').any(|w| w == word), "{word} in {line}");
        }
        assert_eq!(line.split(' ').count(), 1 + NR_STATS, "{line}");
        for c in COUNTERS {
            assert!(
                line.contains(&format!(" {}=", c.name)),
                "{} in {line}",
                c.name
            );
        }
    }

    #[test]
    fn nothing_run_is_no_share_rather_than_a_division_by_zero() {
        let line = Line(Counters::default()).to_string();
        assert!(line.starts_with("boosted_cpu_share=0.0% "), "{line}");
    }
}
