//! Prometheus metrics and the health probes of `mus-agent watch`, served by
//! [`crate::http`]. The watch loop updates [`Metrics`]; a scrape renders it, reading
//! each boosted cgroup's `cpu.stat` at that moment, and the scheduler's own counters
//! (the per-CPU `stats` array mus-runner pins as `mus_stats` next to the map) as
//! `mus_sched_*_total`, when they are pinned.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mus_bpf::intf;
use mus_common::CgroupId;
use mus_common::stats::{Counters, NR_STATS};

use crate::cgroup::cpu::usage_usec;
use crate::daemon::reconcile::PodRef;

/// The port of `--listen`'s default, which the manifests use.
pub const DEFAULT_PORT: u16 = 9477;

/// How a scheduler counter is exported: `enum mus_stat_idx`, counted in events or
/// in nanoseconds (exported as seconds, Prometheus' base unit).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Events,
    Nanoseconds,
}

/// Every scheduler counter as `mus_sched_<name>_total`; one per index (the array's
/// length makes a counter added to `intf.h` without a name here a compile error).
const SCHED_COUNTERS: [(intf::mus_stat_idx, &str, Unit, &str); NR_STATS] = [
    (
        intf::mus_stat_idx_MUS_STAT_RUN_BOOSTED,
        "runs_boosted",
        Unit::Events,
        "Times a task of a boosted cgroup got a CPU.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_RUN_NORMAL,
        "runs_normal",
        Unit::Events,
        "Times any other task got a CPU.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_DISPATCH_IDLE,
        "dispatch_idle",
        Unit::Events,
        "Wake-ups placed directly on an idle CPU.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_DISPATCH_SHARED,
        "dispatch_shared",
        Unit::Events,
        "Tasks a CPU pulled from its cache's queue or its own.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_RUNTIME_BOOSTED_NS,
        "runtime_boosted_seconds",
        Unit::Nanoseconds,
        "CPU time given to boosted cgroups.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_RUNTIME_NORMAL_NS,
        "runtime_normal_seconds",
        Unit::Nanoseconds,
        "CPU time given to everything else.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_WEIGHT_REFRESH,
        "weight_refreshes",
        Unit::Events,
        "Ancestor walks resolving a task's weight (cache misses).",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_MAP_CHANGES,
        "map_changes",
        Unit::Events,
        "Map changes seen by the scheduler's map scan.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_STARVATION_RESCUES,
        "starvation_rescues",
        Unit::Events,
        "Tasks run out of vtime order after waiting too long.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_PREEMPTIONS,
        "preemptions",
        Unit::Events,
        "Waking tasks that preempted a running task further ahead of its share.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_SHORT_SLICES,
        "short_slices",
        Unit::Events,
        "Slices shortened because tasks were waiting.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_THROTTLED,
        "throttled",
        Unit::Events,
        "Tasks held back because their cgroup used its cpu.max quota.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_CGROUP_ACTIVATIONS,
        "cgroup_activations",
        Unit::Events,
        "Cgroups that became runnable (updates of the weight tree).",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_STEALS,
        "steals",
        Unit::Events,
        "Tasks a busy CPU took from another last-level cache's queue, being owed the CPU.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_LLC_MIGRATIONS,
        "llc_migrations",
        Unit::Events,
        "Tasks that started running in another last-level cache than last time.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_IDLE_STEALS,
        "idle_steals",
        Unit::Events,
        "Tasks a CPU with nothing else to run took from another last-level cache.",
    ),
    (
        intf::mus_stat_idx_MUS_STAT_QUEUE_JUMPS,
        "queue_jumps",
        Unit::Events,
        "Boosted wake-ups queued ahead of a queue head boosted less.",
    ),
];

/// A cgroup the daemon holds an entry for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boosted {
    pub pod: PodRef,
    pub cgroup: CgroupId,
    pub path: PathBuf,
    pub weight: u32,
}

/// What the watch loop reports; shared with the HTTP server.
#[derive(Debug)]
pub struct Metrics {
    pub reconcile_runs: AtomicU64,
    pub reconcile_errors: AtomicU64,
    pub writes: AtomicU64,
    pub deletes: AtomicU64,
    pub write_errors: AtomicU64,
    pub map_reopens: AtomicU64,
    pub invalid_annotations: AtomicU64,
    pub map_entries: AtomicU64,
    map_open: AtomicBool,
    last_success: Mutex<Option<Instant>>,
    /// When the daemon's loop last woke up (an event, the pin check, a resync).
    last_tick: Mutex<Instant>,
    boosted: Mutex<Vec<Boosted>>,
    /// Pods refused a boost, by reason ([`crate::policy::Refusal::label`]).
    refused: Mutex<BTreeMap<&'static str, u64>>,
    /// `/healthz` fails when the loop has not woken up for this long.
    stale_after: Duration,
    /// Where mus-runner pins the scheduler's counters (`mus_common::stats_pin_path`).
    stats_pin: Option<PathBuf>,
}

impl Metrics {
    pub fn new(stale_after: Duration, stats_pin: Option<PathBuf>) -> Metrics {
        Metrics {
            reconcile_runs: AtomicU64::new(0),
            reconcile_errors: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            map_reopens: AtomicU64::new(0),
            invalid_annotations: AtomicU64::new(0),
            map_entries: AtomicU64::new(0),
            map_open: AtomicBool::new(false),
            last_success: Mutex::new(None),
            // The loop starts right after; until then the process start counts.
            last_tick: Mutex::new(Instant::now()),
            boosted: Mutex::new(Vec::new()),
            refused: Mutex::new(BTreeMap::new()),
            stale_after,
            stats_pin,
        }
    }

    pub fn set_map_open(&self, open: bool) {
        self.map_open.store(open, Ordering::Relaxed);
    }

    pub fn map_open(&self) -> bool {
        self.map_open.load(Ordering::Relaxed)
    }

    pub fn succeeded(&self, at: Instant) {
        if let Ok(mut last) = self.last_success.lock() {
            *last = Some(at);
        }
    }

    pub fn set_boosted(&self, boosted: Vec<Boosted>) {
        if let Ok(mut slot) = self.boosted.lock() {
            *slot = boosted;
        }
    }

    pub fn set_refused(&self, by_reason: BTreeMap<&'static str, u64>) {
        if let Ok(mut slot) = self.refused.lock() {
            *slot = by_reason;
        }
    }

    /// Pods refused a boost in the last pass, by reason.
    pub fn refused(&self) -> BTreeMap<&'static str, u64> {
        self.refused.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn boosted(&self) -> Vec<Boosted> {
        self.boosted.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// The daemon's loop woke up: its watch stream and its timers are being polled.
    pub fn ticked(&self, at: Instant) {
        if let Ok(mut last) = self.last_tick.lock() {
            *last = at;
        }
    }

    /// Liveness (`/healthz`): `Ok` with a sentence while the daemon's loop runs, or
    /// `Err` with the reason for a 503. Only a stuck loop fails it: a missing runner
    /// or an unreachable API server is not fixed by restarting the agent, so they
    /// count against readiness only.
    pub fn liveness(&self, now: Instant) -> Result<String, String> {
        let last = self.last_tick.lock().map_or(now, |l| *l);
        let age = now.saturating_duration_since(last);
        if age > self.stale_after {
            Err(format!(
                "the daemon's loop last ran {}s ago: it is stuck",
                age.as_secs()
            ))
        } else {
            Ok(format!("ok: the daemon's loop ran {}s ago", age.as_secs()))
        }
    }

    /// Readiness (`/readyz`): the map is open and a reconcile has finished, so the
    /// map holds what the pods ask for.
    pub fn readiness(&self, now: Instant) -> Result<String, String> {
        if !self.map_open() {
            return Err("the scheduler's map is not open (is mus-runner running?)".into());
        }
        match self.last_success.lock().ok().and_then(|l| *l) {
            None => Err("no reconcile has finished yet (waiting for the pod list?)".into()),
            Some(at) => Ok(format!(
                "ok: the map is open; last reconcile {}s ago",
                now.saturating_duration_since(at).as_secs()
            )),
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let boosted = self.boosted();
        gauge(
            &mut out,
            "mus_agent_boosted_cgroups",
            "Cgroups the watch daemon holds a map entry for.",
            boosted.len() as u64,
        );
        gauge(
            &mut out,
            "mus_agent_map_entries",
            "Entries in the scheduler's map, whoever wrote them.",
            get(&self.map_entries),
        );
        gauge(
            &mut out,
            "mus_agent_map_open",
            "1 when the pinned map is open.",
            u64::from(self.map_open()),
        );
        gauge(
            &mut out,
            "mus_agent_invalid_annotations",
            "Pods on this node whose mus annotations are invalid.",
            get(&self.invalid_annotations),
        );
        counter(
            &mut out,
            "mus_agent_reconcile_runs_total",
            "Reconcile passes.",
            get(&self.reconcile_runs),
        );
        counter(
            &mut out,
            "mus_agent_reconcile_errors_total",
            "Reconcile passes that failed (map missing or unreadable, or a write failed).",
            get(&self.reconcile_errors),
        );
        counter(
            &mut out,
            "mus_agent_map_writes_total",
            "Map entries written.",
            get(&self.writes),
        );
        counter(
            &mut out,
            "mus_agent_map_deletes_total",
            "Map entries deleted.",
            get(&self.deletes),
        );
        counter(
            &mut out,
            "mus_agent_map_write_errors_total",
            "Map writes or deletes that failed (map full, kernel error).",
            get(&self.write_errors),
        );
        counter(
            &mut out,
            "mus_agent_map_reopens_total",
            "Times the pinned map was (re)opened, e.g. after mus-runner restarted.",
            get(&self.map_reopens),
        );

        let _ = writeln!(
            out,
            "# HELP mus_agent_refused_boosts Pods on this node that ask for a boost the policy refuses, by reason.\n# TYPE mus_agent_refused_boosts gauge"
        );
        for (reason, n) in self.refused() {
            let _ = writeln!(out, "mus_agent_refused_boosts{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP mus_agent_boosted_weight Weight of each boosted pod's cgroup.\n# TYPE mus_agent_boosted_weight gauge"
        );
        for b in &boosted {
            let _ = writeln!(
                out,
                "mus_agent_boosted_weight{{{}}} {}",
                labels(b),
                b.weight
            );
        }
        let _ = writeln!(
            out,
            "# HELP mus_agent_boosted_cpu_seconds_total CPU time of each boosted pod's cgroup (cpu.stat usage_usec).\n# TYPE mus_agent_boosted_cpu_seconds_total counter"
        );
        for b in &boosted {
            if let Some(usec) = usage_usec(&b.path) {
                let _ = writeln!(
                    out,
                    "mus_agent_boosted_cpu_seconds_total{{{}}} {}",
                    labels(b),
                    usec as f64 / 1e6
                );
            }
        }
        if let Some(counters) = self.scheduler_counters() {
            for (idx, name, unit, help) in SCHED_COUNTERS {
                let name = format!("mus_sched_{name}_total");
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                let value = counters.get(idx);
                let _ = match unit {
                    Unit::Events => writeln!(out, "{name} {value}"),
                    Unit::Nanoseconds => writeln!(out, "{name} {}", value as f64 / 1e9),
                };
            }
        }
        out
    }

    /// The scheduler's counters, read now from their pin. None pinned (no runner, or
    /// one that predates the pin) is no series rather than an error; an unreadable
    /// pin is logged and left out too, so the agent's own metrics still come through.
    fn scheduler_counters(&self) -> Option<Counters> {
        let path = self.stats_pin.as_deref()?;
        Counters::read_pinned(path).unwrap_or_else(|e| {
            tracing::warn!("scheduler counters not exported: {e}");
            None
        })
    }
}

fn labels(b: &Boosted) -> String {
    format!(
        "namespace=\"{}\",pod=\"{}\",cgroup_id=\"{}\"",
        escape(&b.pod.namespace),
        escape(&b.pod.name),
        b.cgroup
    )
}

/// Label values escape `\`, `"` and newlines.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_follows_the_loop_and_readiness_the_map_and_a_reconcile() {
        let m = Metrics::new(Duration::from_secs(30), None);
        let t0 = Instant::now();
        m.ticked(t0);
        assert!(m.liveness(t0 + Duration::from_secs(5)).is_ok());
        let stuck = m.liveness(t0 + Duration::from_secs(31)).unwrap_err();
        assert!(stuck.contains("31s ago"), "{stuck}");
        m.ticked(t0 + Duration::from_secs(31));
        assert!(m.liveness(t0 + Duration::from_secs(32)).is_ok());

        assert!(
            m.readiness(t0)
                .is_err_and(|e| e.contains("map is not open"))
        );
        m.set_map_open(true);
        assert!(m.readiness(t0).is_err_and(|e| e.contains("no reconcile")));
        m.succeeded(t0);
        // However long ago: an API server that is down keeps the last boosts.
        assert!(m.readiness(t0 + Duration::from_secs(600)).is_ok());
        m.set_map_open(false);
        assert!(m.readiness(t0).is_err());
    }

    #[test]
    fn text_format_has_types_labels_and_cpu_seconds() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("cpu.stat"),
            "usage_usec 2500000\nuser_usec 1\n",
        )
        .expect("write");
        let m = Metrics::new(Duration::from_secs(30), None);
        m.reconcile_runs.store(3, Ordering::Relaxed);
        m.set_boosted(vec![
            Boosted {
                pod: PodRef {
                    namespace: "shop".into(),
                    name: "re\"dis".into(),
                },
                cgroup: CgroupId(42),
                path: dir.path().to_path_buf(),
                weight: 4096,
            },
            Boosted {
                pod: PodRef {
                    namespace: "shop".into(),
                    name: "gone".into(),
                },
                cgroup: CgroupId(43),
                path: dir.path().join("gone"),
                weight: 2048,
            },
        ]);
        let text = m.render();
        for line in [
            "# TYPE mus_agent_boosted_cgroups gauge",
            "mus_agent_boosted_cgroups 2",
            "# TYPE mus_agent_reconcile_runs_total counter",
            "mus_agent_reconcile_runs_total 3",
            "mus_agent_boosted_weight{namespace=\"shop\",pod=\"re\\\"dis\",cgroup_id=\"42\"} 4096",
            "mus_agent_boosted_cpu_seconds_total{namespace=\"shop\",pod=\"re\\\"dis\",cgroup_id=\"42\"} 2.5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(
            !text.contains("mus_agent_boosted_cpu_seconds_total{namespace=\"shop\",pod=\"gone\""),
            "a cgroup without cpu.stat has no CPU sample"
        );
    }
}
