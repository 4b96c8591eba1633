//! Command-line interface of mus-runner.

use std::path::PathBuf;

use clap::Parser;
use mus_common::{DEFAULT_PIN_PATH, Weight};

/// Loads the mus sched_ext scheduler, pins its map of boosted cgroups, and keeps the
/// scheduler running until SIGINT/SIGTERM or until the kernel ejects it.
///
/// When the kernel ejects the scheduler, the runner logs why (error, stall, user,
/// unregistered) and loads it again after a delay that doubles with every ejection
/// that follows a short run (1 s up to 60 s; reset after 60 s attached), keeping the
/// pin and so the boosts.
///
/// Exit status: 0 after a signal; 1 when a check or a load fails (the message says
/// what to do), so that systemd restarts it.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Where to pin the map of boosted cgroups (on bpffs). mus-agent and bpftool
    /// open it there; the counters are pinned next to it as `mus_stats`. A pin left by a
    /// crashed runner is taken over, entries included, and one of an older version's
    /// layout (or at the old path /sys/fs/bpf/high_prio_cgroups) is migrated.
    #[arg(long, env = "MUS_PIN_PATH", default_value = DEFAULT_PIN_PATH)]
    pub pin_path: PathBuf,

    /// Longest time slice, in microseconds, given while nothing waits. Slices
    /// shrink towards --slice-min-us as tasks wait for a CPU.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub slice_us: u64,

    /// Shortest time slice, in microseconds: what slices shrink to when many tasks
    /// wait, and what a task of a tiny share runs when it gets its turn. (At 500,
    /// hackbench switched 1.6-1.8x as often as under the stock scheduler; at 1000,
    /// 1.0-1.3x: evaluation/experiments/slice_min.sh.)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub slice_min_us: u64,

    /// How long a task runs, in microseconds, before the receiver of its sync
    /// (message-passing) wake-up may preempt it, unless the receiver is boosted more.
    /// Other wake-ups (a timer, a device) preempt at once. (At 1000, hackbench
    /// switched 1.09x as often as under the stock scheduler; at 3000, 0.95x:
    /// evaluation/experiments/sync_grace.sh.)
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub sync_grace_us: u64,

    /// Do not let a waking task preempt a running one (weights only, as the
    /// original project; for comparisons).
    #[arg(long)]
    pub no_preempt: bool,

    /// Do not measure each cgroup's run-queue waits (the histograms pinned as
    /// mus_cgroup_waits stay empty): to measure what they cost.
    #[arg(long)]
    pub no_wait_histograms: bool,

    /// Weight given to a map entry whose weight is 0 (so `bpftool map update` with
    /// an all-zero value boosts at this weight). 1024 is an ordinary cgroup.
    #[arg(long, default_value_t = Weight::HIGH_DEFAULT)]
    pub high_weight: Weight,

    /// Size of the debug dump the kernel writes when it ejects the scheduler (the
    /// tasks, the queues, the scheduler's own state), in bytes; 0 keeps the kernel's
    /// default (32768). The runner prints the dump to stderr.
    #[arg(long, value_name = "BYTES", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16 << 20))]
    pub exit_dump_len: u32,

    /// How long a runnable task may wait before the kernel ejects the scheduler, in
    /// milliseconds, from 1000 to 30000 (the kernel's maximum). mus's starvation rescue
    /// follows it: a task queued for a quarter of it runs next in its queue (3/8 of it
    /// at the latest), so waits stay well below it. Below 1000 ms the rescue's own steps
    /// (its scan, a slice, the tick) would take a large part of the timeout, so the
    /// runner refuses it; raise it where the kernel's own check-in runs late (many
    /// emulated vCPUs on few host cores).
    #[arg(long, default_value_t = 5000, value_parser = watchdog_timeout)]
    pub watchdog_timeout_ms: u32,

    /// Print the scheduler's counters every SECONDS seconds.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stats: Option<u64>,

    /// Load nothing: print the counters of the scheduler another mus-runner runs (read
    /// from their pin next to --pin-path) every SECONDS seconds, until SIGINT/SIGTERM.
    /// Needs root, as the pins are root-only.
    #[arg(long, value_name = "SECONDS", conflicts_with = "stats", value_parser = clap::value_parser!(u64).range(1..))]
    pub monitor: Option<u64>,

    /// Log more: -v for debug, -vv for trace.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log as JSON lines instead of text.
    #[arg(long)]
    pub log_json: bool,
}

/// The shortest watchdog timeout the starvation rescue honours, and the kernel's longest.
const WATCHDOG_TIMEOUT_MS: std::ops::RangeInclusive<u32> = 1000..=30_000;

/// Parses `--watchdog-timeout-ms`, saying why a value out of range is refused.
fn watchdog_timeout(arg: &str) -> Result<u32, String> {
    let ms: u32 = arg
        .parse()
        .map_err(|_| format!("{arg:?} is not a number of milliseconds"))?;
    if ms < *WATCHDOG_TIMEOUT_MS.start() {
        return Err(format!(
            "{ms} ms is below {} ms, the shortest timeout mus's starvation rescue can honour \
             (it acts at a quarter of the timeout, and its scan, a slice and the tick take \
             part of it): use at least {}",
            WATCHDOG_TIMEOUT_MS.start(),
            WATCHDOG_TIMEOUT_MS.start()
        ));
    }
    if ms > *WATCHDOG_TIMEOUT_MS.end() {
        return Err(format!(
            "{ms} ms is above {} ms, the kernel's longest watchdog timeout",
            WATCHDOG_TIMEOUT_MS.end()
        ));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ms: &str) -> Result<Args, clap::Error> {
        Args::try_parse_from(["mus-runner", "--watchdog-timeout-ms", ms])
    }

    #[test]
    fn a_watchdog_timeout_the_rescue_cannot_honour_is_refused_with_the_reason() {
        let err = parse("999").unwrap_err().to_string();
        assert!(
            err.contains("shortest timeout mus's starvation rescue can honour"),
            "{err}"
        );
        assert!(
            parse("30001")
                .unwrap_err()
                .to_string()
                .contains("kernel's longest")
        );
        assert!(parse("soon").is_err());
        assert_eq!(parse("1000").unwrap().watchdog_timeout_ms, 1000);
        assert_eq!(parse("30000").unwrap().watchdog_timeout_ms, 30_000);
    }
}
