//! The auto loop: CPUBoost objects with `spec.auto` hold a weight that follows
//! each pod's latency. One [`Controller`] per (object, pod cgroup) this node
//! grants; every `--auto-interval` ([`AutoLoop::tick`]) each is fed one sample
//! of its pod's signal, read where it happens:
//! - `waitP99`: the scheduler's run-queue wait histograms of the pod's cgroups
//!   over the interval (`crate::waits`), their p99 (interpolated within its log2
//!   bucket) and the share of the wait spent behind other cgroups rather than its
//!   own threads or its own `cpu.max`;
//! - `psiSomeAvg10`: the pod cgroup's `cpu.pressure` (works without mus);
//! - idle: the pod used less than [`IDLE_PERCENT`] of one CPU (`cpu.stat`);
//! - the node's other pods: the CPU of the kubepods tree the pod is in, less the
//!   pod's. When they used less than [`OTHER_PODS_IDLE_PERCENT`] of one CPU between them,
//!   none of the pod's wait is put on other pods' account
//!   ([`behind_other_pods`]): the scheduler's "other cgroups" were then the
//!   node's own processes (the agent, kworkers, a client outside the pod), which
//!   once raised a boost with no noise at all (`evaluation/journal/auto.md`).
//!
//! Each sample is also a debug line (`reading: ...`, machine-readable: the bench
//! keeps them as the law's recorded inputs).
//!
//! A pass ([`AutoLoop::shape`]) makes the controllers' weights the pods' wishes;
//! a weight of 1024 is no boost, so no entry is held for it. A controller made
//! for a cgroup whose entry the map already holds resumes from that weight
//! ([`Controller::holding`]): a restarted daemon carries on where it was. Each
//! change is a log line, an Event on the object and a metric; with `--dry-run`
//! only the log line. Where the wait histograms are not pinned (mus not
//! attached), a `waitP99` target cannot be measured: the daemon says so once
//! (log, Warning Event, the object's status item for this node) and holds the
//! pod at `minWeight`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{EventType, Recorder};
use mus_common::waits::{CgroupWaits, Histogram, Waits, bucket_edges};
use mus_common::{CgroupId, Entry, OwnerId, Weight};
use tracing::{debug, info, warn};

use crate::auto::law::{Change, Controller, Sample, behind_other_pods};
use crate::auto::spec::{AutoSettings, Signal};
use crate::cgroup::cpu::CpuSampler;
use crate::cgroup::pressure::Pressure;
use crate::cpuboost::BoostRef;
use crate::cpuboost::check::auto_settings;
use crate::cpuboost::status::Standing;
use crate::daemon::grant::boosts::Judged;
use crate::daemon::grant::wishes::Wishes;
use crate::daemon::metrics::AutoMetrics;
use crate::daemon::reconcile::{self, PodRef};
use crate::daemon::report::events::{publish, publish_action};
use crate::waits::{WaitSampler, pod_waits};

/// A pod using less than this percentage of one CPU over an interval is idle:
/// nothing to hold a boost for.
pub const IDLE_PERCENT: f64 = 2.0;

/// The node's other pods using less than this percentage of one CPU between them
/// over an interval are idle: none of the pod's wait is theirs. Above
/// [`IDLE_PERCENT`] because it is a difference of two readings (the kubepods tree's
/// and the pod's, taken a moment apart): in the guest experiment, with no other pod
/// running and the pod on a CPU, it read up to 2.1 %, and the noise at least 21 %
/// (`tests/fixtures/auto/guest_wait5ms.trace`).
pub const OTHER_PODS_IDLE_PERCENT: f64 = 10.0;

/// One auto boost of one pod.
#[derive(Debug)]
struct Tracked {
    settings: AutoSettings,
    controller: Controller,
    /// The weight the policy admits the object at (`spec.weight`): the ceiling.
    cap: Weight,
    pod: PodRef,
    path: PathBuf,
    object: ObjectReference,
    /// Why its signal cannot be read now, once said.
    problem: Option<String>,
}

/// How the tick reports: where, and whether for real.
pub struct Reporting<'a> {
    pub recorder: Option<&'a Recorder>,
    pub metrics: &'a AutoMetrics,
    pub dry_run: bool,
}

/// The auto boosts of this node and their samplers.
#[derive(Debug)]
pub struct AutoLoop {
    /// The zero of the controllers' monotonic clock.
    start: Instant,
    pin_path: PathBuf,
    tracked: BTreeMap<(BoostRef, CgroupId), Tracked>,
    waits: Option<WaitSampler>,
    cpu: CpuSampler,
}

impl AutoLoop {
    /// The wait histograms are looked for next to the map pinned at `pin_path`.
    pub fn new(pin_path: PathBuf) -> AutoLoop {
        AutoLoop {
            start: Instant::now(),
            pin_path,
            tracked: BTreeMap::new(),
            waits: None,
            cpu: CpuSampler::default(),
        }
    }

    /// Makes each auto boost's weight its pods' wish in `wishes` (and follows the
    /// objects: new pods get a controller, gone ones lose theirs, new settings
    /// apply from the weight held). `current` is the map as read, whose entries
    /// `owner` holds a weight a new controller resumes from. Returns the cgroups
    /// an auto boost holds at 1024 now: granted, but no entry is held for them.
    pub fn shape(
        &mut self,
        wishes: &mut Wishes,
        judged: &[Judged],
        current: &[Entry],
        owner: OwnerId,
        metrics: &AutoMetrics,
    ) -> BTreeSet<CgroupId> {
        let autos: HashMap<&BoostRef, (AutoSettings, &Judged)> = judged
            .iter()
            .filter(|j| matches!(j.standing, Standing::InForce { .. }))
            .filter_map(|j| Some((&j.boost, (auto_settings(&j.object.spec).ok()??, j))))
            .collect();
        let in_map: HashMap<CgroupId, u32> = current
            .iter()
            .filter(|e| reconcile::is_ours(e, owner))
            .map(|e| (e.cgroup, e.weight))
            .collect();
        let mut live = BTreeSet::new();
        let mut unheld = BTreeSet::new();
        for (id, boost) in &wishes.granted_by {
            let (Some((settings, judged)), Some(wish)) =
                (autos.get(boost), wishes.desired.get_mut(id))
            else {
                continue;
            };
            let key = (boost.clone(), *id);
            let tracked = self.tracked.entry(key.clone()).or_insert_with(|| {
                let held = in_map.get(id).and_then(|&w| Weight::new(w.into()).ok());
                if let Some(w) = held {
                    info!(cpuboost = %boost, pod = %wish.pod, "{boost}: auto boost of pod {} resumes at weight {w}, the map's", wish.pod);
                }
                Tracked {
                    settings: settings.clone(),
                    controller: Controller::holding(
                        held.unwrap_or(settings.min_weight),
                        settings.clone(),
                    ),
                    cap: wish.weight,
                    pod: wish.pod.clone(),
                    path: wish.path.clone(),
                    object: judged.object.object_ref(&()),
                    problem: None,
                }
            });
            if tracked.settings != *settings {
                tracked.controller =
                    Controller::holding(tracked.controller.weight(), settings.clone());
                tracked.settings = settings.clone();
            }
            tracked.cap = wish.weight;
            tracked.path = wish.path.clone();
            wish.weight = tracked.controller.weight();
            if wish.weight == Weight::NORMAL {
                unheld.insert(*id);
            }
            live.insert(key);
        }
        self.tracked.retain(|key, _| live.contains(key));
        let paths = self
            .tracked
            .values()
            .flat_map(|t| [Some(t.path.clone()), kubepods_tree(&t.path)])
            .flatten()
            .collect();
        self.cpu.retain(&paths);
        metrics.set_weights(self.weights());
        unheld
    }

    fn weights(&self) -> BTreeMap<(String, String), u32> {
        self.tracked
            .iter()
            .map(|((boost, _), t)| {
                let object = format!("{}/{}", boost.namespace, boost.name);
                ((object, t.pod.to_string()), t.controller.weight().get())
            })
            .collect()
    }

    /// Why an object's signal cannot be measured on this node, by object.
    pub fn problems(&self) -> BTreeMap<BoostRef, String> {
        self.tracked
            .iter()
            .filter_map(|((boost, _), t)| Some((boost.clone(), t.problem.clone()?)))
            .collect()
    }

    /// Samples every auto boost's pod and steps its controller; `true` when a
    /// weight changed or a signal became unmeasurable or measurable again, so
    /// that a pass writes the map and the status.
    pub fn tick(&mut self, report: &Reporting<'_>) -> bool {
        if self.tracked.is_empty() {
            // The next auto boost starts with a fresh interval.
            self.waits = None;
            return false;
        }
        let now = Instant::now();
        let at = now.duration_since(self.start);
        let waits = self.sample_waits();
        // Each kubepods tree sampled once a tick: a second reading at the same
        // instant would have no interval.
        let mut trees: HashMap<PathBuf, Option<f64>> = HashMap::new();
        let mut changed = false;
        for ((boost, _), t) in &mut self.tracked {
            let pod_percent = self.cpu.sample(&t.path, now);
            let idle = pod_percent.is_some_and(|percent| percent < IDLE_PERCENT);
            let tree_percent = kubepods_tree(&t.path).and_then(|tree| {
                *trees
                    .entry(tree)
                    .or_insert_with_key(|tree| self.cpu.sample(tree, now))
            });
            let other_pods = tree_percent
                .zip(pod_percent)
                .map(|(tree, pod)| (tree - pod).max(0.0));
            let sample = match t.settings.target {
                Signal::WaitP99(_) => match &waits {
                    Ok(Some(waits)) => Ok(wait_sample(&pod_waits(waits, &t.path), at, idle)),
                    // The first interval is not over yet.
                    Ok(None) => continue,
                    Err(problem) => Err(problem.clone()),
                },
                Signal::PsiSomeAvg10(_) => psi_sample(&t.path, at, idle),
            };
            match sample {
                Ok(mut sample) => {
                    debug!(cpuboost = %boost, pod = %t.pod, "{boost}: pod {}: {}", t.pod, reading(&sample, other_pods));
                    sample.neighbour_fraction = behind_other_pods(
                        sample.neighbour_fraction,
                        other_pods,
                        OTHER_PODS_IDLE_PERCENT,
                    );
                    // A problem gone is news for the status too.
                    changed |= t.problem.take().is_some();
                    let decision = t.controller.step(sample, t.cap);
                    changed |= tell(
                        boost,
                        t,
                        (decision.from, &decision.to_string()),
                        decision.change(),
                        report,
                    );
                }
                Err(problem) => changed |= t.cannot_measure(boost, problem, report),
            }
        }
        if changed && !report.dry_run {
            report.metrics.set_weights(self.weights());
        }
        changed
    }

    /// This interval's waits of every cgroup, `Ok(None)` on the first, or why
    /// there are none.
    fn sample_waits(&mut self) -> Result<Option<Waits>, String> {
        if self.waits.is_none() {
            self.waits = Some(WaitSampler::open(&self.pin_path).map_err(|e| e.to_string())?);
        }
        let sampler = self.waits.as_mut().expect("opened above");
        sampler.sample().map_err(|e| {
            // A new runner pins new histograms: reopen next time.
            self.waits = None;
            e.to_string()
        })
    }
}

impl Tracked {
    /// The signal cannot be read: hold at `minWeight` and say so once; `true` when
    /// that is news or moved the weight (a pass then writes the status).
    fn cannot_measure(
        &mut self,
        boost: &BoostRef,
        problem: String,
        report: &Reporting<'_>,
    ) -> bool {
        let floor = self.settings.min_weight.min(self.cap);
        let from = self.controller.weight();
        let said = format!(
            "{} cannot be measured for pod {}: {problem}; holding minWeight {floor}",
            self.settings.target, self.pod
        );
        let news = self.problem.as_ref() != Some(&said);
        if news {
            warn!(cpuboost = %boost, pod = %self.pod, "{boost}: {said}");
            if !report.dry_run {
                publish(
                    report.recorder,
                    EventType::Warning,
                    "AutoSignalMissing",
                    said.clone(),
                    &self.object,
                );
            }
            self.problem = Some(said);
        }
        if from == floor {
            return news;
        }
        self.controller = Controller::holding(floor, self.settings.clone());
        let change = if floor > from {
            Change::Raised
        } else {
            Change::Lowered
        };
        let text = format!(
            "{} weight {from} -> {floor}: the signal cannot be measured",
            change.label()
        );
        tell(boost, self, (from, &text), change, report)
    }
}

/// Logs, publishes and counts one step of `t` that moved the weight (`text`
/// says how and why); `true` if it did.
fn tell(
    boost: &BoostRef,
    t: &Tracked,
    (from, text): (Weight, &str),
    change: Change,
    report: &Reporting<'_>,
) -> bool {
    let reason = match change {
        Change::Held => {
            // Every interval: for an operator who asks (MUS_LOG=...auto_loop=debug).
            debug!(cpuboost = %boost, pod = %t.pod, "{boost}: pod {}: {text}", t.pod);
            return false;
        }
        Change::Raised => "AutoRaised",
        Change::Lowered => "AutoLowered",
    };
    if report.dry_run {
        info!(cpuboost = %boost, pod = %t.pod, "dry run: {boost}: pod {}: would have {text}", t.pod);
        return true;
    }
    info!(cpuboost = %boost, pod = %t.pod, weight = t.controller.weight().get(),
        "{boost}: pod {} (cgroup {}): {text}", t.pod, t.path.display());
    report.metrics.changed(change == Change::Raised);
    // One action per move, so that each move's Event keeps its own note.
    publish_action(
        report.recorder,
        EventType::Normal,
        reason,
        &format!("Weight {from} to {}", t.controller.weight()),
        format!("pod {}: {text}", t.pod),
        &t.object,
    );
    true
}

/// The top of the kubepods tree the pod cgroup at `pod` is in (`kubepods` under
/// kubelet's cgroupfs driver, `kubepods.slice` under systemd's): every pod's CPU
/// is counted in it. `None` for a cgroup outside one.
fn kubepods_tree(pod: &Path) -> Option<PathBuf> {
    pod.ancestors()
        .skip(1)
        .filter(|dir| {
            dir.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kubepods"))
        })
        .last()
        .map(Path::to_path_buf)
}

/// One sample as its debug line: the law's inputs before [`behind_other_pods`],
/// as `key=value` pairs ("-" for none) that the bench parses
/// (xtask/src/bench/auto/series.rs).
fn reading(sample: &Sample, other_pods: Option<f64>) -> String {
    let value = match sample.signal {
        Signal::WaitP99(d) => format!("wait_p99_us={}", d.as_micros()),
        Signal::PsiSomeAvg10(p) => format!("psi_some_avg10={p:.2}"),
    };
    let percent = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    format!(
        "reading: {value} behind_others_pct={} other_pods_cpu_pct={} idle={}",
        percent(sample.neighbour_fraction.map(|f| f * 100.0)),
        percent(other_pods),
        sample.idle
    )
}

/// A pod's wait signal over an interval: the p99 of all its waits, and the share
/// of their time spent behind other cgroups (its own threads' and its own
/// `cpu.max`'s are the rest).
fn wait_sample(waits: &CgroupWaits, at: Duration, idle: bool) -> Sample {
    let mut all: Histogram = waits.others;
    for (a, b) in all.buckets.iter_mut().zip(&waits.own.buckets) {
        *a = a.wrapping_add(*b);
    }
    let p99 = quantile(&all, 0.99).unwrap_or(Duration::ZERO);
    let others = waits.others.total_ns as f64;
    let total = others + waits.own.total_ns as f64 + waits.throttled_ns as f64;
    Sample {
        at,
        signal: Signal::WaitP99(p99),
        neighbour_fraction: (total > 0.0).then(|| others / total),
        idle,
    }
}

/// The `q`-quantile of `h`'s waits, interpolated linearly within its log2 bucket
/// as Prometheus' `histogram_quantile` does (the bucket's upper edge alone would read
/// a p99 as up to twice what it is, and a target between two edges as the lower
/// one); in the last bucket, which has no upper edge, its lower edge. `None`
/// without waits.
fn quantile(h: &Histogram, q: f64) -> Option<Duration> {
    let rank = q.clamp(0.0, 1.0) * h.count() as f64;
    let mut seen = 0u64;
    for (b, &n) in h.buckets.iter().enumerate() {
        if n > 0 && (seen + n) as f64 >= rank {
            let (lower, upper) = bucket_edges(b);
            let Some(upper) = upper else {
                return Some(lower);
            };
            let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
            return Some(lower + (upper - lower).mul_f64(within));
        }
        seen += n;
    }
    None
}

/// A pod's PSI signal: its cgroup's `cpu.pressure` some avg10 (not attributed).
fn psi_sample(dir: &Path, at: Duration, idle: bool) -> Result<Sample, String> {
    let pressure = Pressure::read(dir).map_err(|e| e.to_string())?;
    Ok(Sample {
        at,
        signal: Signal::PsiSomeAvg10(pressure.some.avg10),
        neighbour_fraction: None,
        idle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(others: &[(usize, u64)], own: &[(usize, u64)], ns: (u64, u64, u64)) -> CgroupWaits {
        let mut w = CgroupWaits::default();
        for &(b, n) in others {
            w.others.buckets[b] = n;
        }
        for &(b, n) in own {
            w.own.buckets[b] = n;
        }
        (w.others.total_ns, w.own.total_ns, w.throttled_ns) = ns;
        w
    }

    #[test]
    fn the_wait_sample_is_the_p99_of_all_waits_and_the_share_behind_others() {
        // 98 waits under 1us (bucket 0), two in [1024us, 2048us) (bucket 11): the
        // 99th is the first of those two, half-way into the bucket.
        let w = waits(&[(11, 2)], &[(0, 98)], (3_000_000, 1_000_000, 0));
        let s = wait_sample(&w, Duration::from_secs(5), false);
        assert_eq!(s.signal, Signal::WaitP99(Duration::from_micros(1536)));
        assert_eq!(s.neighbour_fraction, Some(0.75));
        assert_eq!(s.at, Duration::from_secs(5));
        // Throttling by its own cpu.max is the pod's own wait.
        let w = waits(&[(3, 1)], &[], (1_000, 0, 3_000));
        assert_eq!(
            wait_sample(&w, Duration::ZERO, false).neighbour_fraction,
            Some(0.25)
        );
        // No wait at all: met, nothing to attribute.
        let s = wait_sample(&CgroupWaits::default(), Duration::ZERO, true);
        assert_eq!(s.signal, Signal::WaitP99(Duration::ZERO));
        assert_eq!(s.neighbour_fraction, None);
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let mut h = Histogram::default();
        assert_eq!(quantile(&h, 0.99), None);
        // 100 waits in [512us, 1024us): the p99 is 99% of the way through it.
        h.buckets[10] = 100;
        let p99 = quantile(&h, 0.99).expect("p99");
        assert_eq!(p99, Duration::from_nanos(512_000 + 506_880));
        // The last bucket has no upper edge: its lower one.
        let last = h.buckets.len() - 1;
        h.buckets[last] = 10_000;
        assert_eq!(quantile(&h, 0.99), Some(bucket_edges(last).0));
    }

    #[test]
    fn the_other_pods_are_those_of_the_kubepods_tree() {
        let tree = |p: &str| kubepods_tree(Path::new(p)).map(|t| t.display().to_string());
        assert_eq!(
            tree("/sys/fs/cgroup/kubepods/besteffort/pod1"),
            Some("/sys/fs/cgroup/kubepods".into())
        );
        assert_eq!(
            tree(
                "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"
            ),
            Some("/sys/fs/cgroup/kubepods.slice".into())
        );
        assert_eq!(tree("/sys/fs/cgroup/system.slice/x.service"), None);
    }

    #[test]
    fn a_reading_line_has_the_laws_inputs() {
        let w = waits(&[(11, 2)], &[(0, 98)], (3_000_000, 1_000_000, 0));
        let s = wait_sample(&w, Duration::from_secs(5), false);
        assert_eq!(
            reading(&s, Some(0.4)),
            "reading: wait_p99_us=1536 behind_others_pct=75.0 other_pods_cpu_pct=0.4 idle=false"
        );
        let s = wait_sample(&CgroupWaits::default(), Duration::ZERO, true);
        assert_eq!(
            reading(&s, None),
            "reading: wait_p99_us=0 behind_others_pct=- other_pods_cpu_pct=- idle=true"
        );
    }

    #[test]
    fn the_psi_sample_reads_cpu_pressure() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("cpu.pressure"),
            "some avg10=12.50 avg60=3.00 avg300=1.00 total=100\n",
        )
        .expect("write");
        let s = psi_sample(dir.path(), Duration::ZERO, false).expect("sample");
        assert_eq!(s.signal, Signal::PsiSomeAvg10(12.5));
        let err = psi_sample(&dir.path().join("gone"), Duration::ZERO, false).unwrap_err();
        assert!(err.contains("cpu.pressure does not exist"), "{err}");
    }
}
