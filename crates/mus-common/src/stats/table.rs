//! The one declaration of the scheduler's counters: for each index of `enum
//! mus_stat_idx` (intf.h, which stays the source of the indices), its name, what it
//! counts and in which unit. The runner's `--stats` and `--monitor` print from it and
//! the agent exports from it, so a counter is named and explained once.

use mus_bpf::intf;

/// What a counter's raw value counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Events: the value is how many times it happened.
    Events,
    /// Time in nanoseconds, as the scheduler adds it up; shown and exported in
    /// seconds (Prometheus' base unit).
    Nanoseconds,
}

impl Unit {
    /// `raw` in the unit readers show: events as they are, time in seconds.
    pub fn in_base_unit(self, raw: u64) -> f64 {
        match self {
            Unit::Events => raw as f64,
            Unit::Nanoseconds => raw as f64 / 1e9,
        }
    }
}

/// One counter of the scheduler's `stats` array.
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    /// Its index, `intf::mus_stat_idx_MUS_STAT_*`.
    pub idx: intf::mus_stat_idx,
    /// snake_case, without unit: `--stats` prints `name=value`, the agent exports
    /// `mus_sched_<name>_total` (`mus_sched_<name>_seconds_total` for time).
    pub name: &'static str,
    /// One sentence: Prometheus' HELP text.
    pub help: &'static str,
    pub unit: Unit,
}

/// Every counter, in the order of `enum mus_stat_idx` (a unit test holds the two
/// together).
pub const COUNTERS: &[Counter] = &[
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED,
        name: "runs_boosted",
        help: "Times a task of a boosted cgroup got a CPU.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_RUN_NORMAL,
        name: "runs_normal",
        help: "Times any other task got a CPU.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_DISPATCH_IDLE,
        name: "dispatch_idle",
        help: "Wake-ups placed directly on an idle CPU.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_DISPATCH_SHARED,
        name: "dispatch_shared",
        help: "Tasks a CPU pulled from its cache's queue or its own.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_RUNTIME_BOOSTED_NS,
        name: "runtime_boosted",
        help: "CPU time given to boosted cgroups.",
        unit: Unit::Nanoseconds,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_RUNTIME_NORMAL_NS,
        name: "runtime_normal",
        help: "CPU time given to everything else.",
        unit: Unit::Nanoseconds,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_WEIGHT_REFRESH,
        name: "weight_refreshes",
        help: "Recomputations of a cgroup's hierarchical share (cache misses).",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_MAP_CHANGES,
        name: "map_changes",
        help: "Map changes seen by the scheduler's map scan.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_STARVATION_RESCUES,
        name: "starvation_rescues",
        help: "Tasks run out of vtime order after waiting too long.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_PREEMPTIONS,
        name: "preemptions",
        help: "Waking tasks that preempted a running task further ahead of its share.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_SHORT_SLICES,
        name: "short_slices",
        help: "Slices shortened because tasks were waiting.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_THROTTLED,
        name: "throttled",
        help: "Tasks held back because their cgroup used its cpu.max quota.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_CGROUP_ACTIVATIONS,
        name: "cgroup_activations",
        help: "Cgroups that became runnable (updates of the weight tree).",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_STEALS,
        name: "steals",
        help: "Tasks a busy CPU took from another last-level cache's queue, being owed the CPU.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_LLC_MIGRATIONS,
        name: "llc_migrations",
        help: "Tasks that started running in another last-level cache than last time.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_IDLE_STEALS,
        name: "idle_steals",
        help: "Tasks a CPU with nothing else to run took from another last-level cache.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_QUEUE_JUMPS,
        name: "queue_jumps",
        help: "Boosted wake-ups queued ahead of a queue head boosted less.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_WAITS_LOST,
        name: "waits_lost",
        help: "Run-queue waits not recorded because the wait histograms held their most cgroups.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_KICKS_REFUSED,
        name: "kicks_refused",
        help: "Preempting kicks whose victim kept its CPU (the CPU switched tasks or another took the waker meanwhile).",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_LOCAL_WAKEUPS,
        name: "local_wakeups",
        help: "Wake-ups of tasks confined to one busy CPU queued to run next there: per-CPU kernel threads, or any task when nothing else waited for that CPU.",
        unit: Unit::Events,
    },
    Counter {
        idx: intf::mus_stat_idx_MUS_STAT_LATE_RESCUES,
        name: "late_rescues",
        help: "Starvation rescues made by the hard bound (a task waited 3/8 of the watchdog timeout) rather than the budgeted rescue at a quarter: starving tasks outran the budget.",
        unit: Unit::Events,
    },
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::stats::NR_STATS;

    #[test]
    fn the_table_declares_every_counter_of_intf_h_in_its_order() {
        assert_eq!(
            COUNTERS.len(),
            NR_STATS,
            "intf.h's enum mus_stat_idx has {NR_STATS} counters (MUS_NR_STATS), the table \
             {}: declare the new counter in COUNTERS",
            COUNTERS.len()
        );
        for (i, c) in COUNTERS.iter().enumerate() {
            assert_eq!(c.idx as usize, i, "{} is entry {i} of the table", c.name);
        }
    }

    #[test]
    fn names_are_unique_snake_case_and_help_is_a_sentence() {
        let names: BTreeSet<&str> = COUNTERS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), COUNTERS.len(), "a name is used twice");
        for c in COUNTERS {
            assert!(
                c.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                c.name
            );
            // The exporter adds the unit and _total itself.
            assert!(
                !c.name.ends_with("_total") && !c.name.ends_with("_seconds"),
                "{}",
                c.name
            );
            assert!(
                c.help.ends_with('.') && !c.help.contains('\n'),
                "{}",
                c.help
            );
        }
    }

    #[test]
    fn time_is_shown_in_seconds() {
        assert_eq!(Unit::Nanoseconds.in_base_unit(2_500_000_000), 2.5);
        assert_eq!(Unit::Events.in_base_unit(7), 7.0);
    }
}
