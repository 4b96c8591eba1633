//! `mus-agent watch`: keeps the scheduler's map equal to what this node's pods ask
//! for through their annotations ([`crate::annotations`]).
//!
//! A thin async loop around the pure [`crate::reconcile`]: a `kube::runtime` watcher
//! (LIST, then WATCH, re-LIST on 410 Gone, reconnect with backoff) feeds a reflector
//! store; every pod event, every `--resync-interval` and every change of the pin
//! (mus-runner restarted) runs one pass: pods → desired entries, map → current
//! entries, plan, apply. A pass needs the complete pod list, so nothing is written
//! before the first LIST is in (an empty store would otherwise read as "nobody wants
//! a boost"). Which entries are the daemon's is read from the map on every pass
//! (their `MUS_PRIO_F_WATCH` flag), so the loop keeps no ownership state.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use mus_common::{CgroupId, Entry, PrioFlags, PrioMap, PrioMapError};
use tracing::{debug, info, warn};

use crate::annotations::{self, AnnotationError};
use crate::cgroup_index::inode;
use crate::cgroup_paths::resolve_pod;
use crate::kube_discovery::QosClass;
use crate::metrics::{Boosted, Metrics};
use crate::reconcile::{self, Desired, Plan, PodRef, Wish};

/// How the daemon runs; the CLI's flags.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// This node's name (`spec.nodeName` of its pods).
    pub node: String,
    pub pin_path: PathBuf,
    pub cgroup_root: PathBuf,
    /// Delete every entry no pod asks for, including hand-written ones.
    pub own_all: bool,
    /// Log what would change; write nothing.
    pub dry_run: bool,
    /// A full pass at least this often, events or not.
    pub resync_interval: Duration,
    /// How often the pin is checked for a new map (mus-runner restarted).
    pub pin_check_interval: Duration,
    /// Publish a Kubernetes Event on a pod with an invalid annotation.
    pub events: bool,
}

impl WatchOptions {
    pub fn new(node: String, pin_path: PathBuf, cgroup_root: PathBuf) -> WatchOptions {
        WatchOptions {
            node,
            pin_path,
            cgroup_root,
            own_all: false,
            dry_run: false,
            resync_interval: Duration::from_secs(60),
            pin_check_interval: Duration::from_secs(1),
            events: true,
        }
    }

    /// How long the loop may go without waking up before `/healthz` fails: two
    /// missed resyncs, with some slack for a slow pass.
    pub fn stale_after(&self) -> Duration {
        self.resync_interval * 2 + Duration::from_secs(10)
    }
}

/// A pod whose annotations cannot be honoured.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    pub pod: PodRef,
    pub uid: String,
    pub error: AnnotationError,
    pub reference: ObjectReference,
}

/// An annotated pod whose cgroup is not on disk (yet: a pending pod has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub pod: PodRef,
    pub uid: String,
    pub reason: String,
}

/// What this node's pods ask for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Wishes {
    pub desired: Desired,
    pub invalid: Vec<Invalid>,
    pub unresolved: Vec<Unresolved>,
}

fn qos_of(pod: &Pod) -> Option<QosClass> {
    match pod.status.as_ref()?.qos_class.as_deref()? {
        "Guaranteed" => Some(QosClass::Guaranteed),
        "Burstable" => Some(QosClass::Burstable),
        "BestEffort" => Some(QosClass::BestEffort),
        _ => None,
    }
}

/// The desired entries of `pods` (those of `node` that have not finished), with
/// `resolve(uid, qos)` finding a pod's cgroup directory and ID. No I/O of its own.
pub fn wishes<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    node: &str,
    resolve: impl Fn(&str, Option<QosClass>) -> Result<(PathBuf, CgroupId), String>,
) -> Wishes {
    let mut out = Wishes::default();
    for pod in pods {
        let on_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        // A finished pod's cgroup is gone (or about to be): nothing to boost.
        if !on_node || matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let meta = &pod.metadata;
        let pod_ref = PodRef {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        };
        let uid = meta.uid.clone().unwrap_or_default();
        let weight = match annotations::requested_weight(pod) {
            Ok(Some(w)) => w,
            Ok(None) => continue,
            Err(error) => {
                out.invalid.push(Invalid {
                    pod: pod_ref,
                    uid,
                    error,
                    reference: pod.object_ref(&()),
                });
                continue;
            }
        };
        match resolve(&uid, qos_of(pod)) {
            Ok((path, id)) => {
                let wish = Wish {
                    pod: pod_ref,
                    path,
                    weight,
                };
                // Two pods cannot share a pod cgroup; if a broken tree says they do,
                // the larger weight wins, deterministically.
                match out.desired.get(&id) {
                    Some(w) if w.weight >= wish.weight => {}
                    _ => {
                        out.desired.insert(id, wish);
                    }
                }
            }
            Err(reason) => out.unresolved.push(Unresolved {
                pod: pod_ref,
                uid,
                reason,
            }),
        }
    }
    out
}

/// A pod's cgroup under the cgroup mount `root`: its directory and its ID (inode).
pub fn resolve_on_disk(
    root: &Path,
    uid: &str,
    qos: Option<QosClass>,
) -> Result<(PathBuf, CgroupId), String> {
    let path = resolve_pod(root, uid, qos).map_err(|e| e.to_string())?;
    let id = inode(&path).ok_or_else(|| format!("cannot stat {}", path.display()))?;
    Ok((path, CgroupId(id)))
}

/// The pin file's identity: a re-pinned map is a new bpffs inode.
fn pin_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

struct OpenMap {
    map: PrioMap,
    identity: (u64, u64),
}

/// The loop's state between passes.
struct Daemon {
    opts: WatchOptions,
    metrics: Arc<Metrics>,
    recorder: Option<Recorder>,
    map: Option<OpenMap>,
    /// Last map problem logged, so a missing runner is one line, not one a second.
    map_problem: Option<String>,
    /// Invalid annotations already reported, by pod UID: (message).
    reported_invalid: HashMap<String, String>,
    reported_unresolved: HashSet<String>,
    last_dry_plan: Option<Plan>,
}

impl Daemon {
    /// Opens the map if it is not open or the pin now names another map; `true` when
    /// a (new) map was opened, so that everything is re-applied.
    fn check_pin(&mut self) -> bool {
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

    fn report_invalid(&mut self, pods: &[Invalid]) {
        let live: HashSet<&str> = pods.iter().map(|i| i.uid.as_str()).collect();
        self.reported_invalid
            .retain(|uid, _| live.contains(uid.as_str()));
        for bad in pods {
            let message = bad.error.to_string();
            if self.reported_invalid.get(&bad.uid) == Some(&message) {
                continue;
            }
            warn!(pod = %bad.pod, "pod {}: {message}; not boosting it", bad.pod);
            self.reported_invalid
                .insert(bad.uid.clone(), message.clone());
            if let Some(recorder) = self.recorder.clone() {
                let reference = bad.reference.clone();
                let pod = bad.pod.clone();
                tokio::spawn(async move {
                    let event = KubeEvent {
                        type_: EventType::Warning,
                        reason: "InvalidBoostAnnotation".into(),
                        note: Some(format!("{message}; mus-agent does not boost this pod")),
                        action: "Boost".into(),
                        secondary: None,
                    };
                    if let Err(e) = recorder.publish(&event, &reference).await {
                        // Events are a courtesy: without RBAC for them the log has it.
                        debug!(pod = %pod, "cannot publish a Kubernetes Event: {e}");
                    }
                });
            }
        }
    }

    fn report_unresolved(&mut self, pods: &[Unresolved]) {
        let live: HashSet<&str> = pods.iter().map(|u| u.uid.as_str()).collect();
        self.reported_unresolved
            .retain(|uid| live.contains(uid.as_str()));
        for u in pods {
            if self.reported_unresolved.insert(u.uid.clone()) {
                info!(pod = %u.pod, "pod {} asks for a boost but its cgroup is not there yet: {}", u.pod, u.reason);
            }
        }
    }

    /// One pass over the pods in `store`.
    fn reconcile(&mut self, pods: &[Arc<Pod>]) {
        self.metrics.reconcile_runs.fetch_add(1, Ordering::Relaxed);
        self.check_pin();
        let root = self.opts.cgroup_root.clone();
        let wishes = wishes(
            pods.iter().map(|p| p.as_ref()),
            &self.opts.node,
            |uid, qos| resolve_on_disk(&root, uid, qos),
        );
        self.metrics
            .invalid_annotations
            .store(wishes.invalid.len() as u64, Ordering::Relaxed);
        self.report_invalid(&wishes.invalid);
        self.report_unresolved(&wishes.unresolved);

        let current: Vec<Entry> = match &self.map {
            Some(open) => match open.map.entries() {
                Ok(entries) => entries,
                Err(e) => {
                    warn!("cannot read the map: {e}");
                    self.metrics
                        .reconcile_errors
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            None if self.opts.dry_run => Vec::new(),
            None => {
                // Logged by check_pin; the pass runs again when the map is back.
                self.metrics
                    .reconcile_errors
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let plan = reconcile::plan(&wishes.desired, &current, self.opts.own_all);
        if self.opts.dry_run {
            self.dry_run(&plan, &wishes.desired);
            return;
        }

        let mut failed_writes = BTreeSet::new();
        let mut failed_deletes = 0;
        let mut entries = current.len() as u64;
        if let Some(open) = &self.map {
            for d in &plan.deletes {
                match open.map.remove(d.cgroup) {
                    Ok(removed) => {
                        entries -= u64::from(removed);
                        self.metrics.deletes.fetch_add(1, Ordering::Relaxed);
                        info!(cgroup_id = %d.cgroup, "unboosted cgroup {} (weight was {}): no pod on this node asks for it", d.cgroup, d.weight);
                    }
                    Err(e) => {
                        failed_deletes += 1;
                        self.metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                        warn!(cgroup_id = %d.cgroup, "cannot unboost cgroup {}: {e}", d.cgroup);
                    }
                }
            }
            for w in &plan.writes {
                let wish = &wishes.desired[&w.cgroup];
                match open
                    .map
                    .set_with_flags(w.cgroup, w.weight, PrioFlags::WATCH)
                {
                    Ok(()) => {
                        entries += u64::from(w.previous.is_none());
                        self.metrics.writes.fetch_add(1, Ordering::Relaxed);
                        match w.previous {
                            None => {
                                info!(pod = %wish.pod, "boosted pod {} at weight {}: cgroup {} (ID {})", wish.pod, w.weight, wish.path.display(), w.cgroup)
                            }
                            Some(before) if before == w.weight.get() => {
                                info!(pod = %wish.pod, "took over the entry of pod {} (weight {before}, cgroup ID {}): it is the daemon's now", wish.pod, w.cgroup)
                            }
                            Some(before) => {
                                info!(pod = %wish.pod, "re-weighted pod {} from {before} to {}: cgroup ID {}", wish.pod, w.weight, w.cgroup)
                            }
                        }
                    }
                    Err(e) => {
                        failed_writes.insert(w.cgroup);
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
        }
        if !failed_writes.is_empty() || failed_deletes > 0 {
            self.metrics
                .reconcile_errors
                .fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.map_entries.store(entries, Ordering::Relaxed);
        // Held: written now, or already ours (a failed re-weight keeps the old weight).
        let ours: BTreeSet<CgroupId> = current
            .iter()
            .filter(|e| e.has(PrioFlags::WATCH))
            .map(|e| e.cgroup)
            .collect();
        self.publish_boosted(&wishes.desired, |id| {
            !failed_writes.contains(&id) || ours.contains(&id)
        });
        // Per-entry failures (a full map) are counted above; the pass itself ran, and
        // restarting the agent would not make room, so health stays good.
        self.metrics.succeeded(Instant::now());
    }

    fn dry_run(&mut self, plan: &Plan, desired: &Desired) {
        if self.last_dry_plan.as_ref() != Some(plan) {
            for d in &plan.deletes {
                info!(
                    "dry run: would unboost cgroup {} (weight {})",
                    d.cgroup, d.weight
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
                info!("dry run: the map already holds what the pods ask for");
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

/// Runs the daemon until the watch stream ends (it does not: the watcher retries
/// with backoff) or the task is dropped.
pub async fn run(client: Client, opts: WatchOptions, metrics: Arc<Metrics>) {
    let api: Api<Pod> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", opts.node));
    let (store, writer): (Store<Pod>, _) = reflector::store();
    let stream = reflector::reflector(writer, watcher::watcher(api, config)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let recorder = opts.events.then(|| {
        Recorder::new(
            client,
            Reporter {
                controller: annotations::REPORTER.into(),
                instance: Some(format!("{}-{}", annotations::REPORTER, opts.node)),
            },
        )
    });
    let mut pin_tick = tokio::time::interval(opts.pin_check_interval);
    let mut resync = tokio::time::interval(opts.resync_interval);
    pin_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut daemon = Daemon {
        opts,
        metrics,
        recorder,
        map: None,
        map_problem: None,
        reported_invalid: HashMap::new(),
        reported_unresolved: HashSet::new(),
        last_dry_plan: None,
    };
    daemon.check_pin();
    let mut listed = false;
    let mut watch_failing = false;
    loop {
        let mut dirty = false;
        tokio::select! {
            event = stream.next() => match event {
                Some(Ok(Event::Init)) => debug!("listing this node's pods"),
                Some(Ok(Event::InitApply(_))) => {}
                Some(Ok(Event::InitDone)) => {
                    if !listed {
                        info!(node = %daemon.opts.node, "pod list received; reconciling");
                    } else {
                        info!("pods re-listed (watch expired or reconnected); reconciling");
                    }
                    listed = true;
                    dirty = true;
                    watch_failing = false;
                }
                Some(Ok(Event::Apply(_) | Event::Delete(_))) => {
                    dirty = true;
                    watch_failing = false;
                }
                Some(Err(e)) => {
                    // The watcher re-lists or reconnects by itself; the map keeps what
                    // the last known pods asked for meanwhile.
                    if !watch_failing {
                        warn!("watching pods failed, retrying with backoff: {e}");
                    } else {
                        debug!("watching pods failed again: {e}");
                    }
                    watch_failing = true;
                }
                None => {
                    warn!("the pod watch ended");
                    return;
                }
            },
            _ = pin_tick.tick() => dirty = daemon.check_pin(),
            _ = resync.tick() => dirty = true,
        }
        daemon.metrics.ticked(Instant::now());
        if dirty && listed {
            daemon.reconcile(&store.state());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn pod(name: &str, node: &str, phase: &str, annotations: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                uid: Some(format!("uid-{name}")),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                qos_class: Some("Burstable".into()),
                ..Default::default()
            }),
        }
    }

    /// uid-<name> → cgroup ID = name's length (unique enough here); "uid-pending"
    /// has no cgroup yet.
    fn fake_resolve(uid: &str, qos: Option<QosClass>) -> Result<(PathBuf, CgroupId), String> {
        assert_eq!(qos, Some(QosClass::Burstable));
        if uid == "uid-pending" {
            return Err("no cgroup".into());
        }
        Ok((
            PathBuf::from(format!("/cg/{uid}")),
            CgroupId(uid.len() as u64),
        ))
    }

    #[test]
    fn only_annotated_running_pods_of_this_node_are_wished() {
        let w = annotations::WEIGHT_ANNOTATION;
        let b = annotations::BOOST_ANNOTATION;
        let pods = [
            pod("redis", "node-a", "Running", &[(w, "8192")]),
            pod("web", "node-a", "Running", &[(b, "true")]),
            pod("plain", "node-a", "Running", &[]),
            pod("away", "node-b", "Running", &[(w, "4096")]),
            pod("done", "node-a", "Succeeded", &[(w, "4096")]),
            pod("broken", "node-a", "Running", &[(w, "0")]),
            pod("pending", "node-a", "Pending", &[(b, "true")]),
        ];
        let got = wishes(&pods, "node-a", fake_resolve);
        let wished: Vec<(String, u32)> = got
            .desired
            .values()
            .map(|w| (w.pod.name.clone(), w.weight.get()))
            .collect();
        assert_eq!(
            wished,
            [("web".to_string(), 4096), ("redis".to_string(), 8192)]
        );
        assert_eq!(got.invalid.len(), 1);
        assert_eq!(got.invalid[0].pod.name, "broken");
        assert_eq!(got.invalid[0].reference.name.as_deref(), Some("broken"));
        assert_eq!(got.invalid[0].reference.kind.as_deref(), Some("Pod"));
        assert_eq!(got.unresolved.len(), 1);
        assert_eq!(got.unresolved[0].pod.name, "pending");
    }
}
