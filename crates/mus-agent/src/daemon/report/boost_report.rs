//! What the daemon tells about CPUBoost objects after each pass that wrote the
//! map: each object's status (this node's item of `nodes`, and the fields every
//! agent computes alike: [`crate::cpuboost::status`]) by server-side apply on the
//! status subresource; Events on the object and on each pod (BoostGranted,
//! BoostRefused, BoostExpired, BoostRemoved); the metrics; and one log line per
//! change naming the object, the pod, the cgroup and the weight.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{EventType, Recorder};
use kube::{Client, Resource};
use mus_common::CgroupId;
use tracing::{debug, info, warn};

use crate::cpuboost::status::{Standing, applied, desired, field_manager, same_but_times};
use crate::cpuboost::{BoostRef, CPUBoost, CPUBoostStatus, NodeBoost};
use crate::daemon::grant::boosts::Judged;
use crate::daemon::grant::wishes::Wishes;
use crate::daemon::metrics::Metrics;
use crate::daemon::reconcile::PodRef;
use crate::daemon::report::events::{publish, publish_related};

/// A status sent this recently, and not seen back yet, is not sent again: the
/// write is in flight. Past it, a write that failed is retried.
const IN_FLIGHT: Duration = Duration::from_secs(10);

/// A pod this node boosts for an object.
#[derive(Clone, Debug, PartialEq)]
struct Grant {
    boost: BoostRef,
    pod: PodRef,
    pod_ref: ObjectReference,
    path: PathBuf,
    weight: u32,
}

/// The reporter's memory between passes.
#[derive(Default)]
pub struct BoostReport {
    node: String,
    /// `None`: no status is written (tests of the policy alone).
    client: Option<Client>,
    recorder: Option<Recorder>,
    /// The pods boosted for an object after the last pass, by cgroup.
    granted: BTreeMap<CgroupId, Grant>,
    /// Objects already counted as refused or expired.
    counted: HashMap<BoostRef, &'static str>,
    /// The last status sent for each object, and when.
    sent: HashMap<BoostRef, (CPUBoostStatus, Instant)>,
    /// Auto boosts whose signal this node cannot measure, and why (this node's
    /// status item says so).
    pub auto_problems: BTreeMap<BoostRef, String>,
}

impl BoostReport {
    pub fn new(node: String, client: Option<Client>, recorder: Option<Recorder>) -> BoostReport {
        BoostReport {
            node,
            client,
            recorder,
            ..BoostReport::default()
        }
    }

    /// Reports a pass: `judged` objects, its `wishes`, and `held(cgroup)`, whether a
    /// desired cgroup's entry is this daemon's now.
    pub fn report(
        &mut self,
        judged: &[Judged],
        wishes: &Wishes,
        held: impl Fn(CgroupId) -> bool,
        metrics: &Metrics,
        now: Timestamp,
    ) {
        let by_boost: BTreeMap<&BoostRef, &Judged> = judged.iter().map(|j| (&j.boost, j)).collect();
        let granted: BTreeMap<CgroupId, Grant> = wishes
            .granted_by
            .iter()
            .filter(|(id, _)| held(**id))
            .filter_map(|(id, boost)| {
                let wish = wishes.desired.get(id)?;
                let (_, pod_ref) = wishes.owners.get(id)?;
                Some((
                    *id,
                    Grant {
                        boost: boost.clone(),
                        pod: wish.pod.clone(),
                        pod_ref: pod_ref.clone(),
                        path: wish.path.clone(),
                        weight: wish.weight.get(),
                    },
                ))
            })
            .collect();
        for (id, g) in &granted {
            // An auto boost's weight moves all the time: its own Events say so.
            let auto = by_boost
                .get(&g.boost)
                .is_some_and(|j| j.object.spec.auto.is_some());
            let same = |old: &Grant| {
                old == g
                    || (auto
                        && Grant {
                            weight: g.weight,
                            ..old.clone()
                        } == *g)
            };
            if !self.granted.get(id).is_some_and(same) {
                self.granted_now(*id, g, by_boost.get(&g.boost).copied(), metrics);
            }
        }
        let ended: Vec<(CgroupId, Grant)> = self
            .granted
            .iter()
            .filter(|(id, g)| granted.get(id).is_none_or(|now| now.boost != g.boost))
            .map(|(id, g)| (*id, g.clone()))
            .collect();
        for (id, g) in ended {
            self.ended(id, &g, by_boost.get(&g.boost).copied());
        }
        self.granted = granted;
        let active: BTreeSet<&BoostRef> = self.granted.values().map(|g| &g.boost).collect();
        metrics
            .cpuboosts_active
            .store(active.len() as u64, Ordering::Relaxed);
        self.counted.retain(|b, _| by_boost.contains_key(b));
        self.sent.retain(|b, _| by_boost.contains_key(b));
        for j in judged {
            self.count(j, metrics);
            let pods: Vec<&Grant> = self
                .granted
                .values()
                .filter(|g| g.boost == j.boost)
                .collect();
            let mine = (!pods.is_empty()).then(|| NodeBoost {
                node: self.node.clone(),
                pods: pods.len() as u32,
                weight: pods.iter().map(|g| g.weight).max().unwrap_or_default(),
                auto_problem: self.auto_problems.get(&j.boost).cloned(),
            });
            let full = desired(&j.object, &j.standing, &self.node, mine, now);
            self.write_status(j, full);
        }
    }

    fn granted_now(&self, id: CgroupId, g: &Grant, judged: Option<&Judged>, metrics: &Metrics) {
        metrics.cpuboost_grants.fetch_add(1, Ordering::Relaxed);
        let until = match judged.map(|j| &j.standing) {
            Some(Standing::InForce { expires, .. }) => format!(" until {expires}"),
            _ => String::new(),
        };
        info!(cpuboost = %g.boost, pod = %g.pod, cgroup_id = %id, weight = g.weight,
            "{}: boosting pod {} at weight {}{until}: cgroup {} (ID {id})", g.boost, g.pod, g.weight, g.path.display());
        let reason = judged
            .map(|j| j.object.spec.reason.clone())
            .unwrap_or_default();
        self.tell(
            "BoostGranted",
            g,
            judged,
            format!(
                "{} boosts this pod at weight {}{until} on node {}: {reason}",
                g.boost, g.weight, self.node
            ),
            format!(
                "boosting pod {} at weight {}{until} on node {}",
                g.pod, g.weight, self.node
            ),
        );
    }

    /// Publishes Event `reason` on `g`'s pod with `on_pod`, and on its object (if it
    /// still exists) with `on_object`.
    fn tell(
        &self,
        reason: &str,
        g: &Grant,
        judged: Option<&Judged>,
        on_pod: String,
        on_object: String,
    ) {
        let recorder = self.recorder.as_ref();
        publish(recorder, EventType::Normal, reason, on_pod, &g.pod_ref);
        if let Some(j) = judged {
            publish_related(
                recorder,
                EventType::Normal,
                reason,
                on_object,
                (&j.object.object_ref(&()), &g.pod_ref),
            );
        }
    }

    /// A pod this node boosted for an object no longer is: expired, removed.
    fn ended(&self, id: CgroupId, g: &Grant, judged: Option<&Judged>) {
        let (reason, why) = match judged.map(|j| &j.standing) {
            Some(Standing::Expired { at, .. }) => ("BoostExpired", format!("expired at {at}")),
            Some(Standing::Refused { message, .. }) => ("BoostRemoved", format!("refused: {message}")),
            Some(Standing::InForce { .. }) => (
                "BoostRemoved",
                "no longer boosts this pod (not selected, not running here, or another object or the node cap took its place)".to_string(),
            ),
            None => ("BoostRemoved", "deleted".to_string()),
        };
        info!(cpuboost = %g.boost, pod = %g.pod, cgroup_id = %id, weight = g.weight,
            "{}: {why}; pod {} (cgroup {}, ID {id}) no longer boosted at weight {}", g.boost, g.pod, g.path.display(), g.weight);
        self.tell(
            reason,
            g,
            judged,
            format!(
                "{} {why}: this pod is no longer boosted at weight {} on node {}",
                g.boost, g.weight, self.node
            ),
            format!(
                "{why}: pod {} on node {} no longer boosted",
                g.pod, self.node
            ),
        );
    }

    /// Counts an object refused or expired, once per daemon.
    fn count(&mut self, j: &Judged, metrics: &Metrics) {
        let (what, counter) = match &j.standing {
            Standing::Refused { .. } => ("refused", &metrics.cpuboosts_refused),
            Standing::Expired { .. } => ("expired", &metrics.cpuboosts_expired),
            Standing::InForce { .. } => {
                self.counted.remove(&j.boost);
                return;
            }
        };
        if self.counted.insert(j.boost.clone(), what) != Some(what) {
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(refusal) = &j.refusal {
                warn!(cpuboost = %j.boost, reason = refusal.label(), "{}: refused: {refusal}", j.boost);
            } else {
                info!(cpuboost = %j.boost, "{}: expired", j.boost);
            }
        }
    }

    /// Applies `full` (this node's part of it) unless the object already has it or
    /// the same was just sent; the agent that flips Refused or Expired says so in
    /// an Event on the object.
    fn write_status(&mut self, j: &Judged, full: CPUBoostStatus) {
        let current = j.object.status.clone().unwrap_or_default();
        if current == full {
            self.sent.remove(&j.boost);
            return;
        }
        if self
            .sent
            .get(&j.boost)
            .is_some_and(|(s, at)| same_but_times(s, &full) && at.elapsed() < IN_FLIGHT)
        {
            return;
        }
        for (type_, reason, kind) in [
            ("Refused", "BoostRefused", EventType::Warning),
            ("Expired", "BoostExpired", EventType::Normal),
        ] {
            let is_true = |s: &CPUBoostStatus| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == type_ && c.status == "True")
            };
            if is_true(&full) && !is_true(&current) {
                let message = full
                    .conditions
                    .iter()
                    .find(|c| c.type_ == type_)
                    .map(|c| c.message.clone())
                    .unwrap_or_default();
                publish(
                    self.recorder.as_ref(),
                    kind,
                    reason,
                    message,
                    &j.object.object_ref(&()),
                );
            }
        }
        self.sent
            .insert(j.boost.clone(), (full.clone(), Instant::now()));
        let Some(client) = self.client.clone() else {
            return;
        };
        let body = applied(&full, &self.node);
        let params = PatchParams::apply(&field_manager(&self.node)).force();
        let boost = j.boost.clone();
        tokio::spawn(async move {
            let api: Api<CPUBoost> = Api::namespaced(client, &boost.namespace);
            match api
                .patch_status(&boost.name, &params, &Patch::Apply(&body))
                .await
            {
                Ok(_) => debug!(cpuboost = %boost, "{boost}: status written"),
                // Retried by a later pass (IN_FLIGHT); the map is what matters.
                Err(e) => warn!(cpuboost = %boost, "{boost}: cannot write its status: {e}"),
            }
        });
    }
}
