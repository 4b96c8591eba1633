//! One pass of the daemon: pods → grants and refusals → desired entries, map →
//! current entries, plan, apply, each change only if the entry is still as read.
//! Here too the state the passes share: the open map (reopened when the pin names
//! a new one) and what was already reported, so that each refusal is logged once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::{EventType, Recorder};
use mus_common::{CgroupId, Entry, PrioFlags, PrioMap, PrioMapError, Swap};
use tracing::{info, warn};

use crate::cpuboost::CPUBoost;
use crate::daemon::auto_loop::{AutoLoop, Reporting};
use crate::daemon::fallback::Fallback;
use crate::daemon::grant::boosts::judge;
use crate::daemon::grant::pod_cpu::cpu_millis;
use crate::daemon::grant::refusal::Refusal;
use crate::daemon::grant::wishes::{Context, Refused, Unresolved, resolve_on_disk, wishes};
use crate::daemon::metrics::{Boosted, Metrics};
use crate::daemon::options::WatchOptions;
use crate::daemon::reconcile::{self, Desired, Plan};
use crate::daemon::report::boost_report::BoostReport;
use crate::daemon::report::events::publish;

/// The pin file's identity: a re-pinned map is a new bpffs inode.
fn pin_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A Node's allocatable CPU in millicores.
fn allocatable_millis(node: &Node) -> Option<u64> {
    let cpu = node.status.as_ref()?.allocatable.as_ref()?.get("cpu")?;
    cpu_millis(cpu)
}

struct OpenMap {
    map: PrioMap,
    identity: (u64, u64),
}

/// The loop's state between passes.
pub(super) struct Daemon {
    pub(super) opts: WatchOptions,
    pub(super) metrics: Arc<Metrics>,
    /// Publishes refusals as Events on their pods (`None`: `--no-events`).
    recorder: Option<Recorder>,
    map: Option<OpenMap>,
    /// Last map problem logged, so a missing runner is one line, not one a second.
    map_problem: Option<String>,
    /// Refusals already reported, by pod UID: (message).
    reported_refused: HashMap<String, String>,
    reported_unresolved: HashSet<String>,
    last_dry_plan: Option<Plan>,
    /// Boosts through `cpu.weight` while mus is not attached (`None`: off, or a
    /// dry run, which writes nothing).
    fallback: Option<Fallback>,
    /// Statuses, Events and metrics of CPUBoost objects.
    pub(super) boost_report: BoostReport,
    /// When the first CPUBoost in force ends: the loop runs a pass then.
    pub(super) next_expiry: Option<Timestamp>,
    /// The auto boosts' controllers.
    auto: AutoLoop,
}

impl Daemon {
    /// A daemon with no map open yet and nothing reported.
    pub(super) fn new(
        opts: WatchOptions,
        metrics: Arc<Metrics>,
        recorder: Option<Recorder>,
    ) -> Daemon {
        let fallback = (opts.fallback && !opts.dry_run).then(|| {
            metrics.set_fallback_on();
            Fallback::new(
                opts.cgroup_root.clone(),
                opts.sched_ext.clone(),
                Arc::clone(&metrics),
            )
        });
        Daemon {
            metrics,
            fallback,
            recorder,
            map: None,
            map_problem: None,
            reported_refused: HashMap::new(),
            reported_unresolved: HashSet::new(),
            last_dry_plan: None,
            boost_report: BoostReport::default(),
            next_expiry: None,
            auto: AutoLoop::new(opts.pin_path.clone()),
            opts,
        }
    }

    /// Checks the pin and whether mus is attached; `true` when a pass is due: a
    /// (new) map was opened, or boosts move between the map and `cpu.weight`.
    pub(super) fn check_pin(&mut self) -> bool {
        let reopened = self.open_pin();
        let map_open = self.map.is_some();
        let switched = self.fallback.as_mut().is_some_and(|f| f.poll(map_open));
        reopened || switched
    }

    /// Opens the map if it is not open or the pin now names another map; `true` when
    /// a (new) map was opened, so that everything is re-applied.
    fn open_pin(&mut self) -> bool {
        let identity = pin_identity(&self.opts.pin_path);
        if let (Some(open), Some(id)) = (&self.map, identity)
            && open.identity == id
        {
            return false;
        }
        if self.map.take().is_some() {
            warn!(
                pin = %self.opts.pin_path.display(),
                "the map's pin disappeared or changed (mus-runner restarted?); reopening"
            );
        }
        self.metrics.set_map_open(false);
        let Some(identity) = identity else {
            self.map_trouble(format!(
                "no map is pinned at {} (waiting for mus-runner)",
                self.opts.pin_path.display()
            ));
            return false;
        };
        match PrioMap::open(&self.opts.pin_path) {
            Ok(map) => {
                info!(pin = %self.opts.pin_path.display(), "opened the scheduler's map; re-applying every boost");
                self.map = Some(OpenMap { map, identity });
                self.map_problem = None;
                self.metrics.set_map_open(true);
                self.metrics.map_reopens.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.map_trouble(e.to_string());
                false
            }
        }
    }

    fn map_trouble(&mut self, problem: String) {
        if self.map_problem.as_ref() != Some(&problem) {
            warn!("{problem}");
            self.map_problem = Some(problem);
        }
    }

    /// Logs each refusal once per pod and message, publishes it as a Warning Event
    /// on the pod, and sets the per-reason gauges.
    fn report_refused(&mut self, refused: &[Refused]) {
        let mut by_reason: BTreeMap<&'static str, u64> = BTreeMap::new();
        for r in refused {
            *by_reason.entry(r.refusal.label()).or_default() += 1;
        }
        self.metrics.invalid_annotations.store(
            refused
                .iter()
                .filter(|r| matches!(r.refusal, Refusal::Invalid(_)))
                .count() as u64,
            Ordering::Relaxed,
        );
        self.metrics.set_refused(by_reason);
        let live: HashSet<&str> = refused.iter().map(|r| r.uid.as_str()).collect();
        self.reported_refused
            .retain(|uid, _| live.contains(uid.as_str()));
        for r in refused {
            let message = match &r.boost {
                Some(boost) => format!("{boost}: {}", r.refusal),
                None => r.refusal.to_string(),
            };
            if self.reported_refused.get(&r.uid) == Some(&message) {
                continue;
            }
            warn!(pod = %r.pod, reason = r.refusal.label(), "pod {}: {message}; not boosting it", r.pod);
            self.reported_refused.insert(r.uid.clone(), message.clone());
            publish(
                self.recorder.as_ref(),
                EventType::Warning,
                r.refusal.event_reason(),
                format!("{message}; mus-agent does not boost this pod"),
                &r.reference,
            );
        }
    }

    fn report_unresolved(&mut self, pods: &[Unresolved]) {
        let live: HashSet<&str> = pods.iter().map(|u| u.uid.as_str()).collect();
        self.reported_unresolved
            .retain(|uid| live.contains(uid.as_str()));
        for u in pods {
            if self.reported_unresolved.insert(u.uid.clone()) {
                info!(pod = %u.pod, "pod {} is granted a boost but its cgroup is not there yet: {}", u.pod, u.reason);
            }
        }
    }

    /// One pass over the listed pods, namespaces, CPUBoost objects and this node.
    pub(super) fn reconcile(
        &mut self,
        pods: &[Arc<Pod>],
        namespaces: &[Arc<Namespace>],
        boosts: &[Arc<CPUBoost>],
        node: Option<&Node>,
    ) {
        self.metrics.reconcile_runs.fetch_add(1, Ordering::Relaxed);
        self.check_pin();
        let owner = self.opts.owner();
        let current: Option<Vec<Entry>> = match &self.map {
            Some(open) => match open.map.entries() {
                Ok(entries) => Some(entries),
                Err(e) => {
                    warn!("cannot read the map: {e}");
                    None
                }
            },
            None if self.opts.dry_run => Some(Vec::new()),
            // Logged by check_pin; the pass runs again when the map is back.
            None => None,
        };
        let held: BTreeSet<CgroupId> = current
            .iter()
            .flatten()
            .filter(|e| reconcile::is_ours(e, owner))
            .map(|e| e.cgroup)
            .collect();
        let namespaces: BTreeMap<String, BTreeMap<String, String>> = namespaces
            .iter()
            .filter_map(|ns| {
                Some((
                    ns.metadata.name.clone()?,
                    ns.metadata.labels.clone().unwrap_or_default(),
                ))
            })
            .collect();
        let root = self.opts.cgroup_root.clone();
        let now = Timestamp::now();
        let (judged, selection) = judge(boosts, &self.opts.policy, &namespaces, now);
        self.next_expiry = selection.next_expiry();
        let ctx = Context {
            node: &self.opts.node,
            policy: &self.opts.policy,
            namespaces: &namespaces,
            allocatable_millis: node.and_then(allocatable_millis),
            held: &held,
            boosts: &selection,
        };
        let mut wishes = wishes(
            pods.iter().map(|p| p.as_ref()),
            &ctx,
            |uid, qos, container| resolve_on_disk(&root, uid, qos, container),
        );
        self.report_unresolved(&wishes.unresolved);
        // Auto boosts wish their controllers' weights; at 1024 no entry (and no raised
        // knob) is held. Shaped before either path, so that the fallback raises a knob
        // by the auto weight, not by the object's ceiling.
        let unheld = self.auto.shape(
            &mut wishes,
            &judged,
            current.as_deref().unwrap_or_default(),
            owner,
            &self.metrics.auto,
        );
        self.boost_report.auto_problems = self.auto.problems();
        let mut applied: Desired = wishes
            .desired
            .iter()
            .filter(|(id, _)| !unheld.contains(id))
            .map(|(id, wish)| (*id, wish.clone()))
            .collect();
        if let Some(raised) = self.through_knobs(&applied, current.as_deref()) {
            self.report_refused(&wishes.refused);
            self.boost_report.report(
                &judged,
                &wishes,
                |id| raised.contains(&id),
                &self.metrics,
                now,
            );
            return;
        }
        let Some(current) = current else {
            self.report_refused(&wishes.refused);
            self.metrics
                .reconcile_errors
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        let plan = reconcile::plan(&applied, &current, owner, self.opts.own_all);
        // A granted cgroup whose entry someone else wrote: theirs stays, the pod is told.
        for c in &plan.conflicts {
            applied.remove(&c.entry.cgroup);
            if let (Some(wish), Some((uid, reference))) = (
                wishes.desired.remove(&c.entry.cgroup),
                wishes.owners.get(&c.entry.cgroup),
            ) {
                wishes.refused.push(Refused {
                    pod: wish.pod,
                    uid: uid.clone(),
                    refusal: Refusal::HeldByOther {
                        cgroup: c.entry.cgroup,
                        writer: c.entry.writer(),
                        weight: c.entry.weight,
                    },
                    reference: reference.clone(),
                    boost: wishes.granted_by.remove(&c.entry.cgroup),
                });
            }
        }
        self.report_refused(&wishes.refused);
        if self.opts.dry_run {
            self.dry_run(&plan, &applied);
            return;
        }
        let Some(open) = &self.map else { return };
        // Knobs down before the map is written: never both at once.
        if let Some(fallback) = self.fallback.as_mut() {
            fallback.restore_all("mus is attached");
        }
        let held = self.apply(&open.map, &plan, &applied, &current);
        self.publish_boosted(&applied, |id| held.contains(&id));
        self.boost_report.report(
            &judged,
            &wishes,
            |id| held.contains(&id) || unheld.contains(&id),
            &self.metrics,
            now,
        );
        // Per-entry failures (a full map) are counted by apply; the pass itself ran,
        // and restarting the agent would not make room, so health stays good.
        self.metrics.succeeded(Instant::now());
    }

    /// Where mus is not attached, boosts `desired` through `cpu.weight`, after
    /// taking the daemon's entries out of the map (see [`crate::daemon::fallback`]
    /// for the order); a cgroup whose entry stays (another writer's, or a failed
    /// delete) is left to the map. Returns the cgroups boosted through their knob,
    /// or `None` when the map is the way (mus attached, or no fallback).
    fn through_knobs(
        &mut self,
        desired: &Desired,
        current: Option<&[Entry]>,
    ) -> Option<BTreeSet<CgroupId>> {
        if self.fallback.as_ref().is_none_or(Fallback::attached) {
            return None;
        }
        let in_map = match (&self.map, current) {
            (Some(open), Some(current)) => self.withdraw(&open.map, current),
            _ => BTreeSet::new(),
        };
        let knobs: Desired = desired
            .iter()
            .filter(|(id, _)| !in_map.contains(id))
            .map(|(&id, wish)| (id, wish.clone()))
            .collect();
        let raised = match self.fallback.as_mut() {
            Some(fallback) => {
                fallback.apply(&knobs);
                knobs
                    .iter()
                    .filter(|(_, wish)| fallback.holds(&wish.path))
                    .map(|(&id, _)| id)
                    .collect()
            }
            None => BTreeSet::new(),
        };
        // The map holds none of them now.
        self.publish_boosted(desired, |_| false);
        self.metrics.succeeded(Instant::now());
        Some(raised)
    }

    /// Deletes the daemon's entries from a map mus is not running with, each only if
    /// it is still as read: a scheduler that comes back must not find them on top of
    /// a raised `cpu.weight`. Returns the cgroups that still have an entry.
    fn withdraw(&self, map: &PrioMap, current: &[Entry]) -> BTreeSet<CgroupId> {
        let owner = self.opts.owner();
        let mut left = BTreeSet::new();
        for e in current {
            if !reconcile::is_ours(e, owner) {
                left.insert(e.cgroup);
                continue;
            }
            match map.compare_and_swap(e.cgroup, Some(*e), None) {
                Ok(Swap::Done) => {
                    self.metrics.deletes.fetch_add(1, Ordering::Relaxed);
                    info!(cgroup_id = %e.cgroup, "took cgroup {}'s entry (weight {}) out of the map while mus is not attached; its boost goes through cpu.weight", e.cgroup, e.weight);
                }
                Ok(Swap::Lost(_)) => {
                    left.insert(e.cgroup);
                }
                Err(err) => {
                    left.insert(e.cgroup);
                    self.metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(cgroup_id = %e.cgroup, "cannot take cgroup {}'s entry out of the map: {err}", e.cgroup);
                }
            }
        }
        left
    }

    /// Carries out `plan`, each change only if the entry is still as read; returns
    /// the desired cgroups whose entry is the daemon's afterwards.
    fn apply(
        &self,
        map: &PrioMap,
        plan: &Plan,
        desired: &Desired,
        current: &[Entry],
    ) -> BTreeSet<CgroupId> {
        let owner = self.opts.owner();
        let mut errors = 0;
        let mut entries = current.len() as u64;
        for d in &plan.deletes {
            let e = d.entry;
            match map.compare_and_swap(e.cgroup, Some(e), None) {
                Ok(Swap::Done) => {
                    entries -= 1;
                    self.metrics.deletes.fetch_add(1, Ordering::Relaxed);
                    info!(cgroup_id = %e.cgroup, "unboosted cgroup {} (weight was {}): no pod on this node is granted it", e.cgroup, e.weight);
                }
                Ok(Swap::Lost(now)) => {
                    info!(cgroup_id = %e.cgroup, "cgroup {} changed since it was read (now {now:?}): left alone", e.cgroup);
                }
                Err(e2) => {
                    errors += 1;
                    self.metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(cgroup_id = %e.cgroup, "cannot unboost cgroup {}: {e2}", e.cgroup);
                }
            }
        }
        // Desired and already ours, untouched by this plan: held.
        let mut held: BTreeSet<CgroupId> = current
            .iter()
            .filter(|e| desired.contains_key(&e.cgroup) && reconcile::is_ours(e, owner))
            .map(|e| e.cgroup)
            .collect();
        for w in &plan.writes {
            let wish = &desired[&w.cgroup];
            match map.compare_and_swap(
                w.cgroup,
                w.previous,
                Some((w.weight, PrioFlags::watch_by(owner))),
            ) {
                Ok(Swap::Done) => {
                    held.insert(w.cgroup);
                    entries += u64::from(w.previous.is_none());
                    self.metrics.writes.fetch_add(1, Ordering::Relaxed);
                    match w.previous {
                        None => {
                            info!(pod = %wish.pod, "boosted pod {} at weight {}: cgroup {} (ID {})", wish.pod, w.weight, wish.path.display(), w.cgroup)
                        }
                        Some(before) if before.weight == w.weight.get() => {
                            info!(pod = %wish.pod, "marked the entry of pod {} (weight {}, cgroup ID {}) with this daemon's owner id {owner}", wish.pod, before.weight, w.cgroup)
                        }
                        Some(before) => {
                            info!(pod = %wish.pod, "re-weighted pod {} from {} to {}: cgroup ID {}", wish.pod, before.weight, w.weight, w.cgroup)
                        }
                    }
                }
                Ok(Swap::Lost(now)) => {
                    // Another writer got there first: theirs stays; the next pass
                    // reports it as a conflict.
                    held.remove(&w.cgroup);
                    info!(pod = %wish.pod, "the entry of cgroup {} changed since it was read (now {now:?}): left alone", w.cgroup);
                }
                Err(e) => {
                    errors += 1;
                    self.metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                    match e {
                        PrioMapError::Full { .. } => {
                            warn!(pod = %wish.pod, "cannot boost pod {}: {e}; the other boosts stay", wish.pod)
                        }
                        e => warn!(pod = %wish.pod, "cannot boost pod {}: {e}", wish.pod),
                    }
                }
            }
        }
        if errors > 0 {
            self.metrics
                .reconcile_errors
                .fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.map_entries.store(entries, Ordering::Relaxed);
        held
    }

    /// One step of the auto boosts; `true` when a weight changed (a pass is due).
    pub(super) fn auto_tick(&mut self) -> bool {
        self.auto.tick(&Reporting {
            recorder: self.recorder.as_ref(),
            metrics: &self.metrics.auto,
            dry_run: self.opts.dry_run,
        })
    }

    fn dry_run(&mut self, plan: &Plan, desired: &Desired) {
        if self.last_dry_plan.as_ref() != Some(plan) {
            for d in &plan.deletes {
                info!(
                    "dry run: would unboost cgroup {} (weight {})",
                    d.entry.cgroup, d.entry.weight
                );
            }
            for w in &plan.writes {
                let wish = &desired[&w.cgroup];
                info!(
                    "dry run: would boost pod {} at weight {} (cgroup {}, ID {})",
                    wish.pod,
                    w.weight,
                    wish.path.display(),
                    w.cgroup
                );
            }
            if plan.is_empty() {
                info!("dry run: the map already holds what the pods are granted");
            }
            self.last_dry_plan = Some(plan.clone());
        }
        self.publish_boosted(desired, |_| true);
        self.metrics.succeeded(Instant::now());
    }

    fn publish_boosted(&self, desired: &Desired, held: impl Fn(CgroupId) -> bool) {
        let boosted = desired
            .iter()
            .filter(|(id, _)| held(**id))
            .map(|(&cgroup, wish)| Boosted {
                pod: wish.pod.clone(),
                cgroup,
                path: wish.path.clone(),
                weight: wish.weight.get(),
            })
            .collect();
        self.metrics.set_boosted(boosted);
    }
}
