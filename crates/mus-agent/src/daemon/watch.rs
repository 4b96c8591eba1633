//! `mus-agent watch`: keeps the scheduler's map equal to what the node's boost
//! policy ([`crate::daemon::policy`]) grants this node's pods.
//!
//! A thin async loop around the pure [`crate::daemon::reconcile`]: `kube::runtime` watchers
//! (LIST, then WATCH, re-LIST on 410 Gone, reconnect with backoff) feed reflector
//! stores of this node's pods, this Node (its allocatable CPU for the node cap, its
//! boot ID for the node check) and, when the policy selects namespaces by label,
//! the Namespaces. Every event, every `--resync-interval` and every change of the
//! pin (mus-runner restarted) runs one pass: pods → grants and refusals → desired
//! entries, map → current entries, plan, apply. A pass needs complete lists, so
//! nothing is written before the first LIST of each is in (an empty store would
//! otherwise read as "nobody is granted a boost"). Which entries are the daemon's
//! is read from the map on every pass (their flags), so the loop keeps no
//! ownership state.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, ObjectReference, Pod};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use mus_common::{CgroupId, Entry, OwnerId, PrioFlags, PrioMap, PrioMapError, Swap};
use tracing::{debug, error, info, warn};

use crate::cgroup::index::inode;
use crate::cgroup::paths::resolve_pod;
use crate::daemon::annotations;
use crate::daemon::metrics::{Boosted, Metrics};
use crate::daemon::policy::{self, Candidate, Policy, Refusal};
use crate::daemon::reconcile::{self, Desired, Plan, PodRef, Wish};
use crate::pod::QosClass;

/// Where the kernel says which boot this is; the kubelet reports the same value as
/// the Node's `status.nodeInfo.bootID`.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// How the daemon runs; the CLI's flags.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// This node's name (`spec.nodeName` of its pods).
    pub node: String,
    pub pin_path: PathBuf,
    pub cgroup_root: PathBuf,
    /// Who may boost, and how much (`--policy`; default: nothing is boosted).
    pub policy: Policy,
    /// This machine's boot ID, checked against the Node's: a daemon told another
    /// node's name stops instead of acting on that node's pods. `None`: unchecked.
    pub boot_id: Option<String>,
    /// Delete every entry no pod is granted, including other writers' ones.
    pub own_all: bool,
    /// Log what would change; write nothing.
    pub dry_run: bool,
    /// A full pass at least this often, events or not.
    pub resync_interval: Duration,
    /// How often the pin is checked for a new map (mus-runner restarted).
    pub pin_check_interval: Duration,
    /// Publish a Kubernetes Event on a pod whose boost is refused.
    pub events: bool,
}

impl WatchOptions {
    pub fn new(node: String, pin_path: PathBuf, cgroup_root: PathBuf) -> WatchOptions {
        WatchOptions {
            node,
            pin_path,
            cgroup_root,
            policy: Policy::default(),
            boot_id: std::fs::read_to_string(BOOT_ID_PATH)
                .ok()
                .map(|id| id.trim().to_string()),
            own_all: false,
            dry_run: false,
            resync_interval: Duration::from_secs(60),
            pin_check_interval: Duration::from_secs(1),
            events: true,
        }
    }

    /// The owner id in the flags of this daemon's entries.
    pub fn owner(&self) -> OwnerId {
        OwnerId::of_node(&self.node)
    }

    /// How long the loop may go without waking up before `/healthz` fails: two
    /// missed resyncs, with some slack for a slow pass.
    pub fn stale_after(&self) -> Duration {
        self.resync_interval * 2 + Duration::from_secs(10)
    }
}

/// Why the daemon stops.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "no Node named {node} exists: --node (NODE_NAME) must be the name of the node this runs on"
    )]
    NoSuchNode { node: String },
    #[error(
        "--node {node} is another machine: that Node's boot ID is {theirs}, this machine's ({BOOT_ID_PATH}) is {ours}; set NODE_NAME from the downward API (spec.nodeName)"
    )]
    WrongNode {
        node: String,
        theirs: String,
        ours: String,
    },
    #[error("the {what} watch ended")]
    WatchEnded { what: &'static str },
}

/// A pod that asks for a boost and does not get it.
#[derive(Clone, Debug, PartialEq)]
pub struct Refused {
    pub pod: PodRef,
    pub uid: String,
    pub refusal: Refusal,
    pub reference: ObjectReference,
}

/// A granted pod whose cgroup is not on disk (yet: a pending pod has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub pod: PodRef,
    pub uid: String,
    pub reason: String,
}

/// What this node's pods are granted and refused.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Wishes {
    pub desired: Desired,
    pub refused: Vec<Refused>,
    pub unresolved: Vec<Unresolved>,
    /// The desired cgroups' pods, for refusals found later (a conflict).
    pub owners: BTreeMap<CgroupId, (String, ObjectReference)>,
}

/// What a pass knows besides the pods.
pub struct Context<'a> {
    pub node: &'a str,
    pub policy: &'a Policy,
    /// Namespace name → its labels, as last listed.
    pub namespaces: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// This node's allocatable CPU, if known.
    pub allocatable_millis: Option<u64>,
    /// Cgroups whose entry is this daemon's already (first under the node cap).
    pub held: &'a BTreeSet<CgroupId>,
}

/// The desired entries of `pods` (those of the node that have not finished) under
/// the policy, with `resolve(uid, qos)` finding a pod's cgroup directory and ID.
/// No I/O of its own.
pub fn wishes<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    ctx: &Context<'_>,
    resolve: impl Fn(&str, Option<QosClass>) -> Result<(PathBuf, CgroupId), String>,
) -> Wishes {
    let mut out = Wishes::default();
    let mut candidates: BTreeMap<CgroupId, (Candidate, Wish)> = BTreeMap::new();
    for pod in pods {
        let on_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(ctx.node);
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
        let granted = match ctx
            .policy
            .decide(pod, ctx.namespaces.get(&pod_ref.namespace))
        {
            Ok(Some(g)) => g,
            Ok(None) => continue,
            Err(refusal) => {
                out.refused.push(Refused {
                    pod: pod_ref,
                    uid,
                    refusal,
                    reference: pod.object_ref(&()),
                });
                continue;
            }
        };
        match resolve(&uid, QosClass::of(pod)) {
            Ok((path, id)) => {
                // Two pods cannot share a pod cgroup; if a broken tree says they do,
                // the larger weight wins, deterministically.
                if candidates
                    .get(&id)
                    .is_some_and(|(_, w)| w.weight >= granted.weight)
                {
                    continue;
                }
                let candidate = Candidate {
                    cgroup: id,
                    held: ctx.held.contains(&id),
                    created: meta.creation_timestamp.as_ref().map(|t| t.0.to_string()),
                    cpu_request_millis: policy::pod_cpu_request_millis(pod),
                };
                let wish = Wish {
                    pod: pod_ref,
                    path,
                    weight: granted.weight,
                };
                out.owners.insert(id, (uid, pod.object_ref(&())));
                candidates.insert(id, (candidate, wish));
            }
            Err(reason) => out.unresolved.push(Unresolved {
                pod: pod_ref,
                uid,
                reason,
            }),
        }
    }
    let (kept, capped) = ctx.policy.cap(
        candidates.values().map(|(c, _)| c.clone()).collect(),
        ctx.allocatable_millis,
    );
    for c in kept {
        if let Some((_, wish)) = candidates.remove(&c.cgroup) {
            out.desired.insert(c.cgroup, wish);
        }
    }
    for (c, refusal) in capped {
        if let (Some((_, wish)), Some((uid, reference))) =
            (candidates.remove(&c.cgroup), out.owners.remove(&c.cgroup))
        {
            out.refused.push(Refused {
                pod: wish.pod,
                uid,
                refusal,
                reference,
            });
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

/// A Node's allocatable CPU in millicores.
fn allocatable_millis(node: &Node) -> Option<u64> {
    let cpu = node.status.as_ref()?.allocatable.as_ref()?.get("cpu")?;
    policy::cpu_millis(cpu)
}

/// Checks that `node` (the listed Node named `--node`) is this machine.
fn check_node(opts: &WatchOptions, node: Option<&Node>) -> Result<(), WatchError> {
    let Some(node) = node else {
        return Err(WatchError::NoSuchNode {
            node: opts.node.clone(),
        });
    };
    let theirs = node
        .status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.boot_id.trim().to_string())
        .unwrap_or_default();
    match &opts.boot_id {
        Some(ours) if !theirs.is_empty() && theirs != *ours => Err(WatchError::WrongNode {
            node: opts.node.clone(),
            theirs,
            ours: ours.clone(),
        }),
        _ => Ok(()),
    }
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
    /// Refusals already reported, by pod UID: (message).
    reported_refused: HashMap<String, String>,
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
            let message = r.refusal.to_string();
            if self.reported_refused.get(&r.uid) == Some(&message) {
                continue;
            }
            warn!(pod = %r.pod, reason = r.refusal.label(), "pod {}: {message}; not boosting it", r.pod);
            self.reported_refused.insert(r.uid.clone(), message.clone());
            if let Some(recorder) = self.recorder.clone() {
                let reference = r.reference.clone();
                let pod = r.pod.clone();
                let reason = r.refusal.event_reason();
                tokio::spawn(async move {
                    let event = KubeEvent {
                        type_: EventType::Warning,
                        reason: reason.into(),
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
                info!(pod = %u.pod, "pod {} is granted a boost but its cgroup is not there yet: {}", u.pod, u.reason);
            }
        }
    }

    /// One pass over the listed pods, namespaces and this node.
    fn reconcile(&mut self, pods: &[Arc<Pod>], namespaces: &[Arc<Namespace>], node: Option<&Node>) {
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
        let ctx = Context {
            node: &self.opts.node,
            policy: &self.opts.policy,
            namespaces: &namespaces,
            allocatable_millis: node.and_then(allocatable_millis),
            held: &held,
        };
        let mut wishes = wishes(pods.iter().map(|p| p.as_ref()), &ctx, |uid, qos| {
            resolve_on_disk(&root, uid, qos)
        });
        self.report_unresolved(&wishes.unresolved);
        let Some(current) = current else {
            self.report_refused(&wishes.refused);
            self.metrics
                .reconcile_errors
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        let plan = reconcile::plan(&wishes.desired, &current, owner, self.opts.own_all);
        // A granted cgroup whose entry someone else wrote: theirs stays, the pod is told.
        for c in &plan.conflicts {
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
                });
            }
        }
        self.report_refused(&wishes.refused);
        if self.opts.dry_run {
            self.dry_run(&plan, &wishes.desired);
            return;
        }
        let Some(open) = &self.map else { return };
        let held = self.apply(&open.map, &plan, &wishes.desired, &current);
        self.publish_boosted(&wishes.desired, |id| held.contains(&id));
        // Per-entry failures (a full map) are counted by apply; the pass itself ran,
        // and restarting the agent would not make room, so health stays good.
        self.metrics.succeeded(Instant::now());
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

/// A watched kind: its store, and whether its first LIST is in.
struct Watched<K: Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store: Store<K>,
    listed: bool,
    failing: bool,
    what: &'static str,
}

impl<K: Resource + Clone + 'static> Watched<K>
where
    K::DynamicType: std::hash::Hash + Eq + Clone + Default,
{
    /// Handles one event of the kind's stream: `Ok(true)` when a pass is due.
    fn on(&mut self, event: Option<Result<Event<K>, watcher::Error>>) -> Result<bool, WatchError> {
        match event {
            Some(Ok(Event::Init)) => debug!("listing {}", self.what),
            Some(Ok(Event::InitApply(_))) => {}
            Some(Ok(Event::InitDone)) => {
                if self.listed {
                    info!(
                        "{} re-listed (watch expired or reconnected); reconciling",
                        self.what
                    );
                } else {
                    info!("{} listed", self.what);
                }
                self.listed = true;
                self.failing = false;
                return Ok(true);
            }
            Some(Ok(Event::Apply(_) | Event::Delete(_))) => {
                self.failing = false;
                return Ok(true);
            }
            Some(Err(e)) => {
                // The watcher re-lists or reconnects by itself; the map keeps what the
                // last known objects granted meanwhile.
                if !self.failing {
                    warn!("watching {} failed, retrying with backoff: {e}", self.what);
                } else {
                    debug!("watching {} failed again: {e}", self.what);
                }
                self.failing = true;
            }
            None => return Err(WatchError::WatchEnded { what: self.what }),
        }
        Ok(false)
    }
}

/// A reflector of `api` (restricted by `config`) and its state.
fn watch_kind<K>(
    api: Api<K>,
    config: watcher::Config,
    what: &'static str,
) -> (
    Watched<K>,
    impl Stream<Item = Result<Event<K>, watcher::Error>>,
)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Default,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher::watcher(api, config)).default_backoff();
    let watched = Watched {
        store,
        listed: false,
        failing: false,
        what,
    };
    (watched, stream)
}

/// Runs the daemon until a watch stream ends (they do not: the watchers retry with
/// backoff), the node check fails, or the task is dropped.
pub async fn run(
    client: Client,
    opts: WatchOptions,
    metrics: Arc<Metrics>,
) -> Result<(), WatchError> {
    let by_node = watcher::Config::default().fields(&format!("spec.nodeName={}", opts.node));
    let (mut pods, pod_stream) =
        watch_kind(Api::<Pod>::all(client.clone()), by_node, "this node's pods");
    let by_name = watcher::Config::default().fields(&format!("metadata.name={}", opts.node));
    let (mut node, node_stream) =
        watch_kind(Api::<Node>::all(client.clone()), by_name, "this Node");
    let (mut namespaces, ns_stream) = watch_kind(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
        "namespaces",
    );
    // Namespaces matter only to a policy that selects them by label: without one,
    // nothing is listed (and no RBAC for namespaces is needed).
    let need_namespaces =
        opts.policy.annotation_namespaces.is_some() || opts.policy.class_namespaces.is_some();
    namespaces.listed = !need_namespaces;
    let mut pod_stream = std::pin::pin!(pod_stream);
    let mut node_stream = std::pin::pin!(node_stream);
    // Polled only when needed: an unpolled watcher sends no request.
    let mut ns_stream = std::pin::pin!(ns_stream);
    let recorder = opts.events.then(|| {
        Recorder::new(
            client,
            Reporter {
                controller: annotations::REPORTER.into(),
                instance: Some(format!("{}-{}", annotations::REPORTER, opts.node)),
            },
        )
    });
    if opts.policy.grants_nothing() {
        warn!(
            "the boost policy grants nothing (no --policy, or one without priorityClasses and annotations): no pod will be boosted; the daemon still removes its own entries"
        );
    }
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
        reported_refused: HashMap::new(),
        reported_unresolved: HashSet::new(),
        last_dry_plan: None,
    };
    daemon.check_pin();
    let mut checked_node = false;
    loop {
        let dirty = tokio::select! {
            event = pod_stream.next() => pods.on(event)?,
            event = node_stream.next() => node.on(event)?,
            event = ns_stream.next(), if need_namespaces => namespaces.on(event)?,
            _ = pin_tick.tick() => daemon.check_pin(),
            _ = resync.tick() => true,
        };
        if node.listed && !checked_node {
            let this = node.store.state().into_iter().next();
            if let Err(e) = check_node(&daemon.opts, this.as_deref()) {
                error!("{e}");
                return Err(e);
            }
            checked_node = true;
        }
        // Liveness: the loop is being polled, whatever the API server or the map do.
        daemon.metrics.ticked(Instant::now());
        if dirty && pods.listed && node.listed && namespaces.listed {
            let this = node.store.state().into_iter().next();
            daemon.reconcile(
                &pods.store.state(),
                &namespaces.store.state(),
                this.as_deref(),
            );
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

    /// Honours annotations in namespace "shop" up to 16384; grants class "critical" 8192.
    fn shop_policy() -> Policy {
        Policy::parse(
            "maxWeight: 16384
priorityClasses: {critical: 8192}
annotations: {namespaceSelector: {matchLabels: {boost: allowed}}}
",
            Path::new("test"),
        )
        .expect("policy")
    }

    fn wished(pods: &[Pod], policy: &Policy) -> Wishes {
        let namespaces = BTreeMap::from([(
            "shop".to_string(),
            BTreeMap::from([("boost".to_string(), "allowed".to_string())]),
        )]);
        let ctx = Context {
            node: "node-a",
            policy,
            namespaces: &namespaces,
            allocatable_millis: None,
            held: &BTreeSet::new(),
        };
        wishes(pods, &ctx, fake_resolve)
    }

    #[test]
    fn only_granted_running_pods_of_this_node_are_wished() {
        let w = annotations::WEIGHT_ANNOTATION;
        let b = annotations::BOOST_ANNOTATION;
        let pods = [
            pod("redis", "node-a", "Running", &[(w, "8192")]),
            pod("web", "node-a", "Running", &[(b, "true")]),
            pod("plain", "node-a", "Running", &[]),
            pod("away", "node-b", "Running", &[(w, "4096")]),
            pod("done", "node-a", "Succeeded", &[(w, "4096")]),
            pod("broken", "node-a", "Running", &[(w, "0")]),
            pod("greedy", "node-a", "Running", &[(w, "65536")]),
            pod("pending", "node-a", "Pending", &[(b, "true")]),
        ];
        let got = wished(&pods, &shop_policy());
        let names: Vec<(String, u32)> = got
            .desired
            .values()
            .map(|w| (w.pod.name.clone(), w.weight.get()))
            .collect();
        assert_eq!(
            names,
            [("web".to_string(), 4096), ("redis".to_string(), 8192)]
        );
        let refused: Vec<(&str, &str)> = got
            .refused
            .iter()
            .map(|r| (r.pod.name.as_str(), r.refusal.label()))
            .collect();
        assert_eq!(
            refused,
            [
                ("broken", "invalid_annotation"),
                ("greedy", "over_max_weight")
            ]
        );
        assert_eq!(got.refused[0].reference.name.as_deref(), Some("broken"));
        assert_eq!(got.refused[0].reference.kind.as_deref(), Some("Pod"));
        assert_eq!(got.unresolved.len(), 1);
        assert_eq!(got.unresolved[0].pod.name, "pending");

        // The same pods with no policy: every annotation refused, nothing wished.
        let got = wished(&pods, &Policy::default());
        assert!(got.desired.is_empty());
        assert!(
            got.refused
                .iter()
                .all(|r| matches!(r.refusal, Refusal::AnnotationsOff | Refusal::Invalid(_))),
            "{:?}",
            got.refused
        );
    }

    #[test]
    fn a_priority_class_grants_without_annotations_and_namespaces_are_checked() {
        let mut critical = pod("critical", "node-a", "Running", &[]);
        critical.spec.as_mut().expect("spec").priority_class_name = Some("critical".into());
        let mut elsewhere = pod(
            "elsewhere",
            "node-a",
            "Running",
            &[(annotations::BOOST_ANNOTATION, "true")],
        );
        elsewhere.metadata.namespace = Some("dev".into());
        let got = wished(&[critical, elsewhere], &shop_policy());
        let names: Vec<(&str, u32)> = got
            .desired
            .values()
            .map(|w| (w.pod.name.as_str(), w.weight.get()))
            .collect();
        assert_eq!(names, [("critical", 8192)]);
        assert_eq!(
            got.refused[0].refusal,
            Refusal::NamespaceNotSelected {
                namespace: "dev".into()
            }
        );
    }
}
