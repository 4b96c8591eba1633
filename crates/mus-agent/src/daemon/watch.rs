//! `mus-agent watch`: keeps the scheduler's map equal to what the node's boost
//! policy ([`crate::daemon::grant::policy`]) grants this node's pods.
//!
//! The watch loop: `kube::runtime` watchers (LIST, then WATCH, re-LIST on 410 Gone,
//! reconnect after a pause that grows until a LIST succeeds:
//! [`crate::kube::relist_backoff`]) feed reflector stores of this node's pods, this
//! Node (its allocatable CPU for the node cap, its boot ID for the node check)
//! and, when the policy selects namespaces by label, the namespaces its selectors
//! select ([`crate::daemon::namespace_watch`]), and the CPUBoost objects of every
//! namespace (none while their CRD is not installed). The stores keep only what a
//! pass reads ([`crate::daemon::trim`]). Every event, every `--resync-interval`,
//! the instant the first CPUBoost in force ends, every `--auto-interval` in which
//! an auto boost's weight moved (`daemon::auto_loop`), and every change of the pin
//! (mus-runner restarted) runs one pass (`daemon::pass`:
//! pods → grants and refusals → desired entries, map → current entries, plan,
//! apply). A pass needs complete lists, so nothing is written before the first
//! LIST of each is in (an empty store would otherwise read as "nobody is granted a
//! boost"). Which entries are the daemon's is read from the map on every pass
//! (their flags), so the loop keeps no ownership state. Apart from the passes, every
//! `prune_interval` a round in the background removes the items of deleted nodes
//! from the CPUBoost statuses ([`crate::daemon::report::stale_nodes`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use tracing::{debug, error, info, warn};

use crate::cpuboost::{CPUBoost, expiry};
use crate::daemon::grant::annotations;
use crate::daemon::metrics::{Kind, Metrics};
use crate::daemon::namespace_watch::namespace_watches;
use crate::daemon::options::{BOOT_ID_PATH, WatchOptions};
use crate::daemon::pass::Daemon;
use crate::daemon::report::boost_report::BoostReport;
use crate::daemon::report::stale_nodes::Pruner;
use crate::daemon::trim::{trim_namespace, trim_pod};
use crate::kube::relist_backoff::relist_backoff;

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

/// A watched kind: its store, and whether its first LIST is in.
struct Watched<K: Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store: Store<K>,
    listed: bool,
    failing: bool,
    what: &'static str,
    /// A kind whose resource may not exist (a CRD not installed): a LIST that
    /// finds no such resource (404) counts as an empty list, retried with backoff.
    optional: bool,
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
                self.listed_now();
                return Ok(true);
            }
            Some(Ok(Event::Apply(_) | Event::Delete(_))) => {
                self.failing = false;
                return Ok(true);
            }
            Some(Err(e)) => return Ok(self.failed(&e)),
            None => return Err(WatchError::WatchEnded { what: self.what }),
        }
        Ok(false)
    }

    /// A LIST of the kind completed: the store holds every object. The one place
    /// that knows when each kind was last listed.
    fn listed_now(&mut self) {
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
    }

    /// A LIST or WATCH of the kind failed: the one place that sees every such
    /// failure, and which one it was. The watcher re-lists or reconnects by itself,
    /// after a pause; the map keeps what the last known objects granted meanwhile.
    /// `true` when a pass is due: an optional kind found absent.
    fn failed(&mut self, e: &watcher::Error) -> bool {
        let request = match e {
            watcher::Error::InitialListFailed(_) => "listing",
            _ => "watching",
        };
        if let watcher::Error::InitialListFailed(kube::Error::Api(status)) = e
            && self.optional
            && status.is_not_found()
        {
            // The first such answer is a complete (empty) list; later ones change nothing.
            if self.listed {
                return false;
            }
            info!(
                "{}: the API server has no such resource (CRD not installed?); none until it has",
                self.what
            );
            self.listed = true;
            return true;
        }
        if !self.failing {
            warn!("{request} {} failed, retrying with backoff: {e}", self.what);
        } else {
            debug!("{request} {} failed again: {e}", self.what);
        }
        self.failing = true;
        false
    }
}

/// A reflector of `api` (restricted by `config`), storing objects as `trim`
/// leaves them, and its state.
fn watch_kind<K>(
    api: Api<K>,
    config: watcher::Config,
    trim: fn(&mut K),
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
    let objects = watcher::watcher(api, config).modify(trim);
    let stream = relist_backoff(reflector::reflector(writer, objects));
    let watched = Watched {
        store,
        listed: false,
        failing: false,
        what,
        optional: false,
    };
    (watched, stream)
}

/// Returns when `at` has passed (a little after, so that the pass sees the
/// object as ended), never when there is no such instant. At most an hour, so an
/// `until` years away is no timer the runtime cannot hold (the pass after an hour's
/// sleep finds nothing ended and sleeps again).
async fn sleep_until_expiry(at: Option<Timestamp>) {
    const LONGEST: Duration = Duration::from_secs(3600);
    match at {
        Some(at) => {
            let wait = expiry::until(Timestamp::now(), at) + Duration::from_millis(100);
            tokio::time::sleep(wait.min(LONGEST)).await;
        }
        None => std::future::pending().await,
    }
}

/// Runs the daemon until a watch stream ends (they do not: the watchers retry with
/// backoff), the node check fails, or the task is dropped.
pub async fn run(
    client: Client,
    opts: WatchOptions,
    metrics: Arc<Metrics>,
) -> Result<(), WatchError> {
    let by_node = watcher::Config::default().fields(&format!("spec.nodeName={}", opts.node));
    let (mut pods, pod_stream) = watch_kind(
        Api::<Pod>::all(client.clone()),
        by_node,
        trim_pod,
        "this node's pods",
    );
    let by_name = watcher::Config::default().fields(&format!("metadata.name={}", opts.node));
    // The Node is one object, kept whole.
    let (mut node, node_stream) = watch_kind(
        Api::<Node>::all(client.clone()),
        by_name,
        |_| {},
        "this Node",
    );
    // Namespaces matter only to a policy that selects them by label: without one,
    // there is no namespace watch (and no RBAC for namespaces is needed).
    let (mut namespaces, ns_streams): (Vec<_>, Vec<_>) = namespace_watches(&opts.policy)
        .into_iter()
        .map(|config| {
            let what = if config.label_selector.is_some() {
                "the selected namespaces"
            } else {
                "namespaces"
            };
            let (watched, stream) = watch_kind(
                Api::<Namespace>::all(client.clone()),
                config,
                trim_namespace,
                what,
            );
            (watched, stream.boxed())
        })
        .unzip();
    let need_namespaces = !namespaces.is_empty();
    // CPUBoost objects of every namespace, without their managedFields (one entry
    // per node's agent, which a pass never reads).
    let (mut boosts, boost_stream) = watch_kind(
        Api::<CPUBoost>::all(client.clone()),
        watcher::Config::default(),
        |b| b.metadata.managed_fields = None,
        "CPUBoost objects",
    );
    boosts.optional = true;
    let mut ns_stream = futures::stream::select_all(
        ns_streams
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.map(move |event| (i, event))),
    );
    let mut pod_stream = std::pin::pin!(pod_stream);
    let mut node_stream = std::pin::pin!(node_stream);
    let mut boost_stream = std::pin::pin!(boost_stream);
    // A dry run writes no status either, nor removes a deleted node's item from one.
    let status_client = (!opts.dry_run).then(|| client.clone());
    let mut pruner = status_client
        .clone()
        .map(|c| Pruner::new(c, opts.node.clone()));
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
    let mut auto_tick = tokio::time::interval(opts.auto_interval);
    let mut prune_tick = tokio::time::interval(opts.prune_interval);
    prune_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    auto_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    pin_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lists = Arc::clone(&metrics);
    let boost_report = BoostReport::new(opts.node.clone(), status_client, recorder.clone());
    let mut daemon = Daemon::new(opts, metrics, recorder);
    daemon.boost_report = boost_report;
    daemon.check_pin();
    let mut checked_node = false;
    loop {
        let dirty = tokio::select! {
            event = pod_stream.next() => pods.on(lists.observe(Kind::Pods, event))?,
            event = node_stream.next() => node.on(lists.observe(Kind::Node, event))?,
            event = boost_stream.next() => boosts.on(lists.observe(Kind::CpuBoosts, event))?,
            () = sleep_until_expiry(daemon.next_expiry) => true,
            // select_all ends only when every watch has: the first's name will do.
            event = ns_stream.next(), if need_namespaces => match event {
                Some((i, event)) => namespaces[i].on(lists.observe(Kind::Namespaces, Some(event)))?,
                None => namespaces[0].on(lists.observe(Kind::Namespaces, None))?,
            },
            _ = pin_tick.tick() => daemon.check_pin(),
            _ = resync.tick() => true,
            _ = auto_tick.tick() => daemon.auto_tick(),
            // Not a pass: a round in the background, on the objects as listed.
            _ = prune_tick.tick() => {
                if let Some(pruner) = pruner.as_mut().filter(|_| boosts.listed) {
                    pruner.start(boosts.store.state());
                }
                false
            }
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
        if dirty
            && pods.listed
            && node.listed
            && boosts.listed
            && namespaces.iter().all(|n| n.listed)
        {
            let this = node.store.state().into_iter().next();
            // A namespace both selectors select is in both stores, the same object.
            let namespaces: Vec<_> = namespaces.iter().flat_map(|n| n.store.state()).collect();
            daemon.reconcile(
                &pods.store.state(),
                &namespaces,
                &boosts.store.state(),
                this.as_deref(),
            );
        }
    }
}
