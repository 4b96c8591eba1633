//! Prometheus metrics and the health probes of `mus-agent watch`, served by
//! [`crate::daemon::http`]. The watch loop updates [`Metrics`]; a scrape takes a snapshot of
//! it, reads each boosted cgroup's `cpu.stat` and the scheduler's counters (the
//! per-CPU `stats` array mus-runner pins as `mus_stats` next to the map, declared in
//! `mus_common::stats::COUNTERS`) at that moment, and prometheus-client encodes them
//! in Prometheus' text format: the agent's as `mus_agent_*`, the scheduler's as
//! `mus_sched_*`.
//!
//! Every value is read at scrape time, so the metrics are collectors of a snapshot
//! rather than registered counters: the watch loop keeps plain atomics.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::watcher::{self, Event};
use mus_common::CgroupId;
use mus_common::stats::{self, Counters};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::cgroup::cpu::usage_usec;
use crate::daemon::grant::refusal::Refusal;
use crate::daemon::reconcile::PodRef;

mod auto;
mod lists;

pub use auto::AutoMetrics;
pub use lists::Kind;
use lists::Lists;

/// The port of `--listen`'s default, which the manifests use.
pub const DEFAULT_PORT: u16 = 9477;

/// The `Content-Type` of [`Metrics::render`]'s text (Prometheus' format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

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
    /// Cgroups whose `cpu.weight` the fallback holds raised.
    pub fallback_cgroups: AtomicU64,
    /// CPUBoost objects boosting a pod on this node.
    pub cpuboosts_active: AtomicU64,
    /// Pods this node started boosting for a CPUBoost object.
    pub cpuboost_grants: AtomicU64,
    /// CPUBoost objects this daemon found refused (each once), and expired.
    pub cpuboosts_refused: AtomicU64,
    pub cpuboosts_expired: AtomicU64,
    /// Auto CPUBoosts' weights and changes.
    pub auto: Arc<AutoMetrics>,
    map_open: AtomicBool,
    /// Whether boosts go through `cpu.weight` where the map is not open (the
    /// fallback is on): then a closed map does not make the daemon unready.
    fallback_on: AtomicBool,
    /// How the LISTs and WATCHes of the API server fare.
    lists: Lists,
    last_success: Mutex<Option<Instant>>,
    /// When the daemon's loop last woke up (an event, the pin check, a resync).
    last_tick: Mutex<Instant>,
    boosted: Mutex<Vec<Boosted>>,
    /// Pods refused a boost, by reason ([`crate::daemon::grant::refusal::Refusal::label`]).
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
            fallback_cgroups: AtomicU64::new(0),
            cpuboosts_active: AtomicU64::new(0),
            cpuboost_grants: AtomicU64::new(0),
            cpuboosts_refused: AtomicU64::new(0),
            cpuboosts_expired: AtomicU64::new(0),
            auto: Arc::default(),
            map_open: AtomicBool::new(false),
            fallback_on: AtomicBool::new(false),
            lists: Lists::default(),
            last_success: Mutex::new(None),
            // The loop starts right after; until then the process start counts.
            last_tick: Mutex::new(Instant::now()),
            boosted: Mutex::new(Vec::new()),
            refused: Mutex::new(BTreeMap::new()),
            stale_after,
            stats_pin,
        }
    }

    /// Records one event of `kind`'s watcher stream (a failed LIST or WATCH, a
    /// completed LIST) and passes it on.
    pub fn observe<K>(
        &self,
        kind: Kind,
        event: Option<Result<Event<K>, watcher::Error>>,
    ) -> Option<Result<Event<K>, watcher::Error>> {
        self.lists.observe(kind, event)
    }

    pub fn set_map_open(&self, open: bool) {
        self.map_open.store(open, Ordering::Relaxed);
    }

    pub fn map_open(&self) -> bool {
        self.map_open.load(Ordering::Relaxed)
    }

    /// The daemon applies boosts through `cpu.weight` where mus is not attached.
    pub fn set_fallback_on(&self) {
        self.fallback_on.store(true, Ordering::Relaxed);
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

    /// Readiness (`/readyz`): boosts have a way to the kernel (the map is open, or
    /// the fallback applies them through `cpu.weight`) and a reconcile has finished,
    /// so the pods have what they ask for. Until then it names what is missing. A
    /// node without sched_ext is ready with the fallback on: unready there forever,
    /// the DaemonSet's rolling updates would stall on it.
    pub fn readiness(&self, now: Instant) -> Result<String, String> {
        let way = if self.map_open() {
            "the map is open"
        } else if self.fallback_on.load(Ordering::Relaxed) {
            "mus is not attached, boosts go through cpu.weight"
        } else {
            return Err(
                "the scheduler's map is not open (is mus-runner running?), and \
                        --no-fallback leaves no other way to boost"
                    .into(),
            );
        };
        match self.last_success.lock().ok().and_then(|l| *l) {
            None => Err(format!(
                "no reconcile has finished yet: waiting for {}",
                self.lists.missing()
            )),
            Some(at) => Ok(format!(
                "ok: {way}; last reconcile {}s ago",
                now.saturating_duration_since(at).as_secs()
            )),
        }
    }

    /// The Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut registry = Registry::with_prefix("mus");
        registry
            .sub_registry_with_prefix("agent")
            .register_collector(Box::new(self.snapshot()));
        if let Some(counters) = self.scheduler_counters() {
            registry
                .sub_registry_with_prefix("sched")
                .register_collector(Box::new(SchedulerCounters(counters)));
        }
        let mut out = String::new();
        // Writing to a String does not fail, and neither do the collectors.
        if let Err(e) = prometheus_text::encode(&mut out, &registry) {
            tracing::warn!("cannot encode the metrics: {e}");
        }
        out
    }

    /// The daemon's state now, with each boosted cgroup's CPU time.
    fn snapshot(&self) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let boosted: Vec<(Boosted, Option<u64>)> = self
            .boosted()
            .into_iter()
            .map(|b| {
                let usec = usage_usec(&b.path);
                (b, usec)
            })
            .collect();
        Snapshot {
            gauges: [
                (
                    "boosted_cgroups",
                    "Cgroups the watch daemon holds a map entry for.",
                    Some(boosted.len() as u64),
                ),
                (
                    "map_entries",
                    "Entries in the scheduler's map, whoever wrote them; absent while the map is not open (see map_open).",
                    // The count of a map that is gone would be a stale figure.
                    self.map_open().then(|| get(&self.map_entries)),
                ),
                (
                    "map_open",
                    "1 when the pinned map is open.",
                    Some(u64::from(self.map_open())),
                ),
                (
                    "invalid_annotations",
                    "Pods on this node whose mus annotations are invalid.",
                    Some(get(&self.invalid_annotations)),
                ),
                (
                    "fallback_cgroups",
                    "Cgroups boosted through their cpu.weight because mus is not attached.",
                    Some(get(&self.fallback_cgroups)),
                ),
                (
                    "cpuboosts_active",
                    "CPUBoost objects boosting a pod on this node.",
                    Some(get(&self.cpuboosts_active)),
                ),
            ],
            counters: [
                (
                    "reconcile_runs",
                    "Reconcile passes.",
                    get(&self.reconcile_runs),
                ),
                (
                    "reconcile_errors",
                    "Reconcile passes that failed (map missing or unreadable, or a write failed).",
                    get(&self.reconcile_errors),
                ),
                ("map_writes", "Map entries written.", get(&self.writes)),
                ("map_deletes", "Map entries deleted.", get(&self.deletes)),
                (
                    "map_write_errors",
                    "Map writes or deletes that failed (map full, kernel error).",
                    get(&self.write_errors),
                ),
                (
                    "map_reopens",
                    "Times the pinned map was (re)opened, e.g. after mus-runner restarted.",
                    get(&self.map_reopens),
                ),
                (
                    "cpuboost_pods_granted",
                    "Pods of this node a CPUBoost object started boosting.",
                    get(&self.cpuboost_grants),
                ),
                (
                    "cpuboosts_refused",
                    "CPUBoost objects this daemon found refused (by the policy or as invalid).",
                    get(&self.cpuboosts_refused),
                ),
                (
                    "cpuboosts_expired",
                    "CPUBoost objects this daemon saw expire.",
                    get(&self.cpuboosts_expired),
                ),
            ],
            refused: self.refused(),
            boosted,
            lists: self.lists.snapshot(),
            auto: Arc::clone(&self.auto),
        }
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

/// A metric family without labels: its HELP and TYPE lines and its one sample.
fn single(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: &impl EncodeMetric,
) -> fmt::Result {
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

/// What a scrape reports of the daemon: `mus_agent_*`.
#[derive(Debug)]
struct Snapshot {
    /// (name, help, value) of the gauges without labels; `None` declares the
    /// family without a sample.
    gauges: [(&'static str, &'static str, Option<u64>); 6],
    /// (name without `_total`, help, value) of the counters without labels.
    counters: [(&'static str, &'static str, u64); 9],
    /// Pods refused a boost, by reason.
    refused: BTreeMap<&'static str, u64>,
    /// Each boosted cgroup with its `cpu.stat` usage_usec, if it could be read.
    boosted: Vec<(Boosted, Option<u64>)>,
    lists: lists::ListsSnapshot,
    auto: Arc<AutoMetrics>,
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        for (name, help, value) in self.gauges {
            match value {
                Some(value) => single(&mut encoder, name, help, None, &ConstGauge::new(value))?,
                None => {
                    encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                }
            }
        }
        for (name, help, value) in self.counters {
            single(&mut encoder, name, help, None, &ConstCounter::new(value))?;
        }

        let mut refused = encoder.encode_descriptor(
            "boosts_refused",
            "Pods on this node that ask for a boost the policy refuses, by reason (every reason, 0 included).",
            None,
            MetricType::Gauge,
        )?;
        // Every reason has a series, so that a rate or an alert sees a 0 rather
        // than a series that vanished.
        let mut reasons: BTreeMap<&str, u64> = Refusal::LABELS.iter().map(|&r| (r, 0)).collect();
        reasons.extend(self.refused.iter().map(|(&r, &n)| (r, n)));
        for (reason, n) in reasons {
            ConstGauge::new(n).encode(refused.encode_family(&[("reason", reason)])?)?;
        }

        let mut weight = encoder.encode_descriptor(
            "boosted_weight",
            "Weight of each boosted pod's cgroup.",
            None,
            MetricType::Gauge,
        )?;
        for (b, _) in &self.boosted {
            ConstGauge::new(b.weight).encode(weight.encode_family(&labels(b))?)?;
        }

        let mut cpu = encoder.encode_descriptor(
            "boosted_cpu",
            "CPU time of each boosted pod's cgroup (cpu.stat usage_usec).",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        for (b, usec) in &self.boosted {
            if let Some(usec) = usec {
                ConstCounter::new(*usec as f64 / 1e6).encode(cpu.encode_family(&labels(b))?)?;
            }
        }
        self.auto.encode(&mut encoder)?;
        self.lists.encode(&mut encoder)
    }
}

/// The scheduler's counters, one family each as the table declares them:
/// `mus_sched_<name>_total`, time as `mus_sched_<name>_seconds_total`.
#[derive(Debug)]
struct SchedulerCounters(Counters);

impl Collector for SchedulerCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        for (counter, raw) in self.0.iter() {
            match counter.unit {
                stats::Unit::Events => single(
                    &mut encoder,
                    counter.name,
                    counter.help,
                    None,
                    &ConstCounter::new(raw),
                )?,
                stats::Unit::Nanoseconds => single(
                    &mut encoder,
                    counter.name,
                    counter.help,
                    Some(&Unit::Seconds),
                    &ConstCounter::new(counter.unit.in_base_unit(raw)),
                )?,
            }
        }
        Ok(())
    }
}

/// The labels of a boosted pod's series (prometheus-client escapes the values). A
/// pod has one cgroup, so its ID would only add series churn when it restarts.
fn labels(b: &Boosted) -> [(&'static str, String); 2] {
    [
        ("namespace", b.pod.namespace.clone()),
        ("pod", b.pod.name.clone()),
    ]
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
        assert!(m.readiness(t0).is_err_and(|e| e.contains("--no-fallback")));
        // With the fallback on, boosts still reach the kernel: ready, and it says how.
        m.set_fallback_on();
        assert!(
            m.readiness(t0)
                .is_ok_and(|ok| ok.contains("boosts go through cpu.weight"))
        );
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
            "mus_agent_boosted_weight{namespace=\"shop\",pod=\"re\\\"dis\"} 4096",
            "mus_agent_boosted_cpu_seconds_total{namespace=\"shop\",pod=\"re\\\"dis\"} 2.5",
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
