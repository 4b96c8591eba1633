//! The run-queue waits of an interval (read and summed by `mus_common::waits`) as
//! lines, one per cgroup that waited, most waits behind others first: how many waits
//! of each class, their p50 and p99, and the time cpu.max held the cgroup back.
//! `--monitor` prints them after each counters line.

use std::fmt;
use std::time::Duration;

use mus_common::waits::{CgroupWaits, Histogram, Waits};

/// At most this many cgroups per interval: the ones most delayed by others.
const MOST: usize = 10;

/// The waits of an interval (usually a delta, [`Waits::since`]).
pub struct Lines<'a>(pub &'a Waits);

/// One class's waits as `class=<count> class_ms=<their time> class_p50<.. class_p99<..`.
struct Class<'a>(&'static str, &'a Histogram);

impl fmt::Display for Class<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Class(name, h) = self;
        write!(
            f,
            "{name}={} {name}_ms={:.1}",
            h.count(),
            h.total_ns as f64 / 1e6
        )?;
        if let (Some(p50), Some(p99)) = (h.percentile(0.5), h.percentile(0.99)) {
            write!(f, " {name}_p50{p50} {name}_p99{p99}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut waited: Vec<_> = self.0.0.iter().filter(|(_, w)| !w.is_empty()).collect();
        waited.sort_by_key(|(id, w)| (std::cmp::Reverse(w.others.count()), **id));
        for (id, w) in waited.iter().take(MOST) {
            let CgroupWaits {
                others,
                own,
                throttled_ns,
                ..
            } = w;
            writeln!(
                f,
                "waits cgroup={id} {} {} throttled={:.1}ms",
                Class("others", others),
                Class("own", own),
                Duration::from_nanos(*throttled_ns).as_secs_f64() * 1e3
            )?;
        }
        if waited.len() > MOST {
            writeln!(f, "waits: {} more cgroups", waited.len() - MOST)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mus_common::CgroupId;

    use super::*;

    #[test]
    fn cgroups_that_waited_are_listed_most_delayed_by_others_first() {
        let mut quiet = CgroupWaits::default();
        quiet.own.buckets[3] = 4;
        let mut victim = CgroupWaits::default();
        victim.others.buckets[11] = 100;
        victim.others.total_ns = 150_000_000;
        victim.throttled_ns = 2_500_000;
        let waits = Waits(
            [
                (CgroupId(7), quiet),
                (CgroupId(8), victim),
                (CgroupId(9), CgroupWaits::default()),
            ]
            .into(),
        );
        let text = Lines(&waits).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "waits cgroup=8 others=100 others_ms=150.0 others_p50<2.0ms others_p99<2.0ms \
                 own=0 own_ms=0.0 throttled=2.5ms",
                "waits cgroup=7 others=0 others_ms=0.0 own=4 own_ms=0.0 own_p50<8us own_p99<8us \
                 throttled=0.0ms",
            ]
        );
    }
}
