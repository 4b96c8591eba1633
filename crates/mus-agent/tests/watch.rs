//! `mus-agent watch` end to end on this machine, without a cluster: a scripted API
//! server (hyper, real Kubernetes JSON, watch streams with resource versions, 410
//! Gone, stop and restart on the same port), a real BPF hash map of the scheduler's
//! layout pinned on a private bpffs (and, for the metrics, a per-CPU array of the
//! scheduler's counters), and a temp dir as the cgroup mount (IDs are directory
//! inodes, as `cgroup_index` matches them). Needs root, for the bpffs mount and the
//! maps: it fails and says so otherwise.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::bpffs::BpfFs;
use common::{PodSpecOf, State, a_node, pod, status_and_body};
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::List;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Status, WatchEvent};
use libbpf_rs::{MapCore, MapFlags, MapHandle};
use mus_agent::annotations::{BOOST_ANNOTATION, WEIGHT_ANNOTATION};
use mus_agent::boost::{self, BoostError};
use mus_agent::http::{self, Limits};
use mus_agent::metrics::Metrics;
use mus_agent::policy::Policy;
use mus_agent::watch::{self, WatchError, WatchOptions};
use mus_common::stats::NR_STATS;
use mus_common::{CgroupId, Entry, OwnerId, PrioFlags, PrioMap, Swap, Weight};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const NODE: &str = "node-a";
const NS: &str = "shop";

// ---------------------------------------------------------------------------------
// The scripted API server.

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// One change of one pod: `before`/`after` `None` mean absent (created/deleted).
#[derive(Clone)]
struct Change {
    rv: u64,
    before: Option<Pod>,
    after: Option<Pod>,
}

struct Watcher {
    node: Option<String>,
    tx: mpsc::UnboundedSender<String>,
}

#[derive(Default)]
struct Cluster {
    pods: BTreeMap<String, Pod>,
    rv: u64,
    /// Changes a watch from an older resource version replays; cleared by
    /// `expire`, after which such a watch gets 410 Gone.
    history: Vec<Change>,
    oldest_rv: u64,
    watchers: Vec<Watcher>,
    /// (method, path?query, body) of every request.
    requests: Vec<(String, String, String)>,
    /// Nodes and Namespaces: listed as they are; their watches stay open and quiet.
    nodes: Vec<Node>,
    namespaces: Vec<Namespace>,
    quiet_watches: Vec<mpsc::UnboundedSender<String>>,
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

fn selector_node(query: &str) -> Option<String> {
    common::query_param(query, "fieldSelector")
        .and_then(|s| s.strip_prefix("spec.nodeName=").map(str::to_string))
}

/// The event a watcher with `node` filter sees for `change`, like the API server's
/// watch cache: an object leaving the selector is a DELETED.
fn render(change: &Change, node: Option<&str>) -> Option<String> {
    let matches = |p: &Option<Pod>| {
        p.as_ref()
            .is_some_and(|p| node.is_none() || node_of(p) == node)
    };
    let event = match (matches(&change.before), matches(&change.after)) {
        (true, true) => WatchEvent::Modified(change.after.clone()?),
        (false, true) => WatchEvent::Added(change.after.clone()?),
        (true, false) => WatchEvent::Deleted(change.after.clone().or(change.before.clone())?),
        (false, false) => return None,
    };
    Some(serde_json::to_string(&event).expect("json"))
}

/// A list of `items` (a Node or Namespace list), keeping those whose name a
/// `metadata.name=` field selector in `query` names.
fn list_of<K: serde::Serialize + Clone + k8s_openapi::ListableResource>(
    items: &[K],
    name: impl Fn(&K) -> Option<&str>,
    query: &str,
) -> String {
    let wanted = common::query_param(query, "fieldSelector")
        .and_then(|s| s.strip_prefix("metadata.name=").map(str::to_string));
    common::list(
        items
            .iter()
            .filter(|k| wanted.is_none() || name(k) == wanted.as_deref())
            .cloned()
            .collect(),
    )
}

/// This machine's boot ID, which the Node the agent runs on reports.
fn boot_id() -> String {
    std::fs::read_to_string(watch::BOOT_ID_PATH)
        .expect("boot_id")
        .trim()
        .to_string()
}

fn a_namespace(name: &str, labels: &[(&str, &str)]) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            resource_version: Some("1".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The namespace label the tests' policy selects on.
const ALLOWED: (&str, &str) = ("mus.patos.dev/boost", "allowed");

fn gone() -> String {
    let status = Status {
        status: Some("Failure".into()),
        code: Some(410),
        reason: Some("Expired".into()),
        message: Some("too old resource version".into()),
        ..Default::default()
    };
    serde_json::to_string(&WatchEvent::<Pod>::ErrorStatus(status)).expect("json")
}

impl Cluster {
    fn list(&self, node: Option<&str>) -> String {
        let items = self
            .pods
            .values()
            .filter(|p| node.is_none() || node_of(p) == node)
            .cloned()
            .collect();
        serde_json::to_string(&List::<Pod> {
            items,
            metadata: ListMeta {
                resource_version: Some(self.rv.to_string()),
                ..Default::default()
            },
        })
        .expect("json")
    }

    fn watch(&mut self, query: &str) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let node = selector_node(query);
        let from: u64 = common::query_param(query, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.rv);
        if from < self.oldest_rv {
            let _ = tx.send(gone());
            return rx; // tx dropped: the stream ends after the error
        }
        for change in self.history.iter().filter(|c| c.rv > from) {
            if let Some(line) = render(change, node.as_deref()) {
                let _ = tx.send(line);
            }
        }
        self.watchers.push(Watcher { node, tx });
        rx
    }

    fn record(&mut self, before: Option<Pod>, after: Option<Pod>, notify: bool) {
        let change = Change {
            rv: self.rv,
            before,
            after,
        };
        if notify {
            self.watchers
                .retain(|w| match render(&change, w.node.as_deref()) {
                    Some(line) => w.tx.send(line).is_ok(),
                    None => !w.tx.is_closed(),
                });
        }
        self.history.push(change);
    }
}

/// The scripted API server: a `Cluster` behind a stoppable hyper listener.
struct Api {
    addr: SocketAddr,
    cluster: Arc<Mutex<Cluster>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Api {
    async fn start() -> Api {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let api = Api {
            addr: listener.local_addr().expect("addr"),
            cluster: Arc::default(),
            tasks: Arc::default(),
        };
        {
            // This node (2 CPUs, this machine's boot ID), a namespace the policy
            // selects and one it does not.
            let mut c = api.cluster.lock().expect("cluster");
            c.nodes.push(a_node(NODE, "2", &boot_id()));
            c.namespaces.push(a_namespace(NS, &[ALLOWED]));
            c.namespaces.push(a_namespace("dev", &[]));
        }
        api.serve(listener);
        api
    }

    fn serve(&self, listener: TcpListener) {
        let cluster = Arc::clone(&self.cluster);
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let cluster = Arc::clone(&cluster);
                let conn = tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let cluster = Arc::clone(&cluster);
                        async move { Ok::<_, Infallible>(handle(&cluster, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                tasks.lock().expect("tasks").push(conn);
            }
        });
        self.tasks.lock().expect("tasks").push(accept);
    }

    /// The API server goes away: listener and every connection, watches included.
    fn stop(&self) {
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
        let mut c = self.cluster.lock().expect("cluster");
        c.watchers.clear();
        c.quiet_watches.clear();
    }

    /// And comes back on the same address, with the same objects.
    async fn restart(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind");
        self.serve(listener);
    }

    fn client(&self) -> kube::Client {
        let config = kube::Config::new(format!("http://{}", self.addr).parse().expect("uri"));
        kube::Client::try_from(config).expect("client")
    }

    fn apply(&self, pod: Pod) {
        self.change(pod, true);
    }

    /// A change no watch hears about (as if its event were lost).
    fn apply_silently(&self, pod: Pod) {
        self.change(pod, false);
    }

    fn change(&self, mut pod: Pod, notify: bool) {
        let mut c = self.cluster.lock().expect("cluster");
        c.rv += 1;
        pod.metadata.resource_version = Some(c.rv.to_string());
        let uid = pod.metadata.uid.clone().expect("uid");
        let before = c.pods.insert(uid, pod.clone());
        c.record(before, Some(pod), notify);
    }

    fn delete(&self, uid: &str) {
        let mut c = self.cluster.lock().expect("cluster");
        c.rv += 1;
        let mut before = c.pods.remove(uid);
        if let Some(p) = before.as_mut() {
            p.metadata.resource_version = Some(c.rv.to_string());
        }
        c.record(before, None, true);
    }

    /// The watch expires: every open watch gets 410 Gone and ends, and the history
    /// is compacted, so resuming from an old resource version is refused too.
    fn expire(&self) {
        let mut c = self.cluster.lock().expect("cluster");
        for w in c.watchers.drain(..) {
            let _ = w.tx.send(gone());
        }
        c.history.clear();
        c.oldest_rv = c.rv + 1;
    }

    fn lists(&self) -> usize {
        self.requests()
            .iter()
            .filter(|(m, q, _)| {
                m == "GET" && q.starts_with("/api/v1/pods") && !q.contains("watch=true")
            })
            .count()
    }

    fn requests(&self) -> Vec<(String, String, String)> {
        self.cluster.lock().expect("cluster").requests.clone()
    }
}

async fn handle(cluster: &Mutex<Cluster>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let json = |status: StatusCode, text: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(text)).boxed_unsync())
            .expect("response")
    };
    let mut c = cluster.lock().expect("cluster");
    c.requests
        .push((method.clone(), format!("{path}?{query}"), body.clone()));
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/v1/pods")
            if common::query_param(&query, "watch").as_deref() == Some("true") =>
        {
            let rx = c.watch(&query);
            let frames = futures::stream::unfold(rx, |mut rx| async move {
                let line = rx.recv().await?;
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from(line + "\n"))),
                    rx,
                ))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(StreamBody::new(frames.boxed()).boxed_unsync())
                .expect("response")
        }
        ("GET", "/api/v1/pods") => json(StatusCode::OK, c.list(selector_node(&query).as_deref())),
        ("GET", "/api/v1/nodes" | "/api/v1/namespaces")
            if common::query_param(&query, "watch").as_deref() == Some("true") =>
        {
            let (tx, rx) = mpsc::unbounded_channel::<String>();
            c.quiet_watches.push(tx);
            let frames = futures::stream::unfold(rx, |mut rx| async move {
                let line = rx.recv().await?;
                Some((Ok::<_, Infallible>(Frame::data(Bytes::from(line))), rx))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(StreamBody::new(frames.boxed()).boxed_unsync())
                .expect("response")
        }
        ("GET", "/api/v1/nodes") => json(
            StatusCode::OK,
            list_of(&c.nodes, |n| n.metadata.name.as_deref(), &query),
        ),
        ("GET", "/api/v1/namespaces") => json(
            StatusCode::OK,
            list_of(&c.namespaces, |n| n.metadata.name.as_deref(), &query),
        ),
        // kube's event recorder: the created Event is echoed back.
        ("POST", p) if p.starts_with("/apis/events.k8s.io/v1/namespaces/") => {
            json(StatusCode::CREATED, body)
        }
        _ => json(StatusCode::NOT_FOUND, common::not_found(&path)),
    }
}

// ---------------------------------------------------------------------------------
// The node: a bpffs with the scheduler's map (common::bpffs), and a cgroup tree.

fn uid_of(n: u8) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

/// The cgroup tree: pod cgroups in the cgroupfs driver's layout, each with a
/// cpu.stat, and a cgroup no pod owns for hand-written boosts.
struct Cgroups {
    root: tempfile::TempDir,
}

impl Cgroups {
    fn new() -> Cgroups {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("system.slice/batch.service")).expect("mkdir");
        Cgroups { root }
    }

    fn pod_cgroup(&self, n: u8) -> CgroupId {
        let dir = self
            .root
            .path()
            .join(format!("kubepods/burstable/pod{}", uid_of(n)));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("cpu.stat"),
            format!("usage_usec {}\n", u64::from(n) * 1_500_000),
        )
        .expect("cpu.stat");
        CgroupId(std::fs::metadata(&dir).expect("stat").ino())
    }

    fn hand_cgroup(&self) -> CgroupId {
        let dir = self.root.path().join("system.slice/batch.service");
        CgroupId(std::fs::metadata(dir).expect("stat").ino())
    }
}

/// Pod number `n` named `name` on `node`, with `annotations` and container ID `cid`.
fn a_pod(n: u8, name: &str, node: &str, annotations: &[(&str, &str)], cid: &str) -> Pod {
    let uid = uid_of(n);
    let id = format!("containerd://{cid}");
    let mut p = pod(PodSpecOf {
        namespace: NS,
        name,
        uid: &uid,
        node,
        qos: "Burstable",
        phase: "Running",
        containers: vec![("app", id.as_str(), State::Running)],
    });
    if !annotations.is_empty() {
        p.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    }
    p
}

/// Pod 1, "redis", on this node, annotated with `weight`: the pod most tests boost.
fn redis_pod(weight: &str) -> Pod {
    a_pod(1, "redis", NODE, &[(WEIGHT_ANNOTATION, weight)], "aa01")
}

fn entries(pin: &Path) -> BTreeMap<CgroupId, u32> {
    match PrioMap::open(pin) {
        Ok(map) => map
            .entries()
            .expect("entries")
            .into_iter()
            .map(|e| (e.cgroup, e.weight))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

/// Whether the daemon marked `id`'s entry as its own.
fn watched(pin: &Path, id: CgroupId) -> bool {
    let entry = PrioMap::open(pin).expect("open").get(id).expect("get");
    entry.is_some_and(|e| e.has(PrioFlags::WATCH))
}

async fn eventually(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("within {secs} s: {what}");
}

/// Waits until redis's entry, at 4096, is all the map holds.
async fn redis_alone_boosted(pin: &Path, redis: CgroupId) {
    eventually("redis is boosted", 10, || {
        entries(pin) == BTreeMap::from([(redis, 4096)])
    })
    .await;
}

struct Agent {
    metrics: Arc<Metrics>,
    task: JoinHandle<Result<(), WatchError>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The policy of most tests: annotations honoured in namespaces labelled
/// [`ALLOWED`] (NS is, "dev" is not), up to the scheduler's maximum weight.
fn annotations_in_allowed_namespaces() -> Policy {
    policy(&format!(
        "maxWeight: 65536\nannotations: {{namespaceSelector: {{matchLabels: {{{}: {}}}}}}}\n",
        ALLOWED.0, ALLOWED.1
    ))
}

fn policy(yaml: &str) -> Policy {
    Policy::parse(yaml, Path::new("test-policy.yaml")).expect("policy")
}

/// A daemon for [`NODE`] under [`annotations_in_allowed_namespaces`], changed by `tweak`.
fn agent(api: &Api, bpf: &BpfFs, node: &Cgroups, tweak: impl FnOnce(&mut WatchOptions)) -> Agent {
    let mut opts = WatchOptions::new(NODE.into(), bpf.pin(), node.root.path().to_path_buf());
    opts.policy = annotations_in_allowed_namespaces();
    opts.pin_check_interval = Duration::from_millis(200);
    opts.resync_interval = Duration::from_secs(30);
    tweak(&mut opts);
    let stats_pin = mus_common::stats_pin_path(&opts.pin_path);
    let metrics = Arc::new(Metrics::new(opts.stale_after(), Some(stats_pin)));
    let task = tokio::spawn(watch::run(api.client(), opts, Arc::clone(&metrics)));
    Agent { metrics, task }
}

fn w(v: u32) -> u32 {
    Weight::new(v.into()).expect("weight").get()
}

// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_follows_annotations_deletes_moves_and_ignores_restarts() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let (redis, web, plain, bad) = (
        node.pod_cgroup(1),
        node.pod_cgroup(2),
        node.pod_cgroup(3),
        node.pod_cgroup(4),
    );
    // An operator's boost by hand: the daemon must leave it alone.
    let hand = node.hand_cgroup();
    PrioMap::open(&bpf.pin())
        .expect("open")
        .set(hand, Weight::new(2048).expect("w"))
        .expect("set");

    api.apply(redis_pod("4096"));
    api.apply(a_pod(2, "web", NODE, &[], "bb01"));
    api.apply(a_pod(3, "plain", NODE, &[], "cc01"));
    let a = agent(&api, &bpf, &node, |_| {});
    let pin = bpf.pin();
    eventually("redis is boosted", 10, || {
        entries(&pin) == BTreeMap::from([(redis, 4096), (hand, 2048)])
    })
    .await;
    assert!(
        watched(&pin, redis),
        "the daemon's entries carry MUS_PRIO_F_WATCH"
    );
    assert!(!watched(&pin, hand), "a hand-written entry does not");

    // Annotate (the boolean shorthand), re-weight, un-annotate.
    api.apply(a_pod(2, "web", NODE, &[(BOOST_ANNOTATION, "true")], "bb01"));
    eventually("web is boosted", 10, || {
        entries(&pin).get(&web) == Some(&w(4096))
    })
    .await;
    api.apply(redis_pod("8192"));
    eventually("redis is re-weighted", 10, || {
        entries(&pin).get(&redis) == Some(&8192)
    })
    .await;
    api.apply(a_pod(1, "redis", NODE, &[], "aa01"));
    eventually("redis is unboosted", 10, || {
        !entries(&pin).contains_key(&redis)
    })
    .await;

    // A container restart: new container ID, same pod cgroup, nothing to write.
    let writes = a.metrics.writes.load(Ordering::Relaxed);
    let runs = a.metrics.reconcile_runs.load(Ordering::Relaxed);
    api.apply(a_pod(2, "web", NODE, &[(BOOST_ANNOTATION, "true")], "bb02"));
    eventually("the restart is seen", 10, || {
        a.metrics.reconcile_runs.load(Ordering::Relaxed) > runs
    })
    .await;
    assert_eq!(
        a.metrics.writes.load(Ordering::Relaxed),
        writes,
        "a restart writes nothing"
    );
    assert_eq!(entries(&pin), BTreeMap::from([(web, 4096), (hand, 2048)]));

    // An invalid annotation: nothing written, a Warning Event on the pod.
    api.apply(a_pod(
        4,
        "bad",
        NODE,
        &[(WEIGHT_ANNOTATION, "999999")],
        "dd01",
    ));
    eventually("an Event names the pod", 10, || {
        event_posted(&api, NS, "bad", "InvalidBoostAnnotation")
    })
    .await;
    assert_eq!(a.metrics.invalid_annotations.load(Ordering::Relaxed), 1);
    assert!(!entries(&pin).contains_key(&bad));

    // The pod leaves the node (as the API server's watch cache reports it: DELETED).
    api.apply(a_pod(
        2,
        "web",
        "node-b",
        &[(BOOST_ANNOTATION, "true")],
        "bb02",
    ));
    eventually("web is unboosted after leaving", 10, || {
        !entries(&pin).contains_key(&web)
    })
    .await;

    // Created annotated, then deleted.
    api.apply(a_pod(
        3,
        "plain",
        NODE,
        &[(WEIGHT_ANNOTATION, "3000")],
        "cc01",
    ));
    eventually("plain is boosted", 10, || {
        entries(&pin).get(&plain) == Some(&3000)
    })
    .await;
    api.delete(&uid_of(3));
    eventually("plain is unboosted after delete", 10, || {
        !entries(&pin).contains_key(&plain)
    })
    .await;

    assert_eq!(
        entries(&pin),
        BTreeMap::from([(hand, 2048)]),
        "the hand-written entry survives it all"
    );
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .filter(|(m, q, _)| m == "GET" && q.starts_with("/api/v1/pods"))
            .all(
                |(_, q, _)| common::query_param(q, "fieldSelector").as_deref()
                    == Some("spec.nodeName=node-a")
            ),
        "every LIST and WATCH carries the node's field selector: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_removes_its_entries_that_pods_stopped_asking_for() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let (redis, web) = (node.pod_cgroup(1), node.pod_cgroup(2));
    let hand = node.hand_cgroup();
    PrioMap::open(&bpf.pin())
        .expect("open")
        .set(hand, Weight::new(2048).expect("w"))
        .expect("set");
    api.apply(redis_pod("4096"));
    api.apply(a_pod(
        2,
        "web",
        NODE,
        &[(WEIGHT_ANNOTATION, "3000")],
        "bb01",
    ));
    let pin = bpf.pin();
    let first = agent(&api, &bpf, &node, |_| {});
    eventually("both pods are boosted", 10, || {
        entries(&pin) == BTreeMap::from([(redis, 4096), (web, 3000), (hand, 2048)])
    })
    .await;

    // The agent stops (an upgrade); meanwhile redis loses its annotation.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.apply(a_pod(1, "redis", NODE, &[], "aa01"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        entries(&pin).contains_key(&redis),
        "no agent ran to remove it"
    );

    // A new agent knows redis's entry as its own from the flag, with no memory of
    // the first one: it goes; the hand-written entry stays.
    let _second = agent(&api, &bpf, &node, |_| {});
    eventually("redis is unboosted by the new agent", 10, || {
        entries(&pin) == BTreeMap::from([(web, 3000), (hand, 2048)])
    })
    .await;
    assert!(watched(&pin, web) && !watched(&pin, hand));
}

/// Two pods on this node, redis annotated at 4096 and web not, with a running agent
/// that has boosted redis. Fields drop in order: the agent before the map, the bpffs
/// mount and the API server it uses.
struct RedisBoosted {
    agent: Agent,
    pin: PathBuf,
    redis: CgroupId,
    web: CgroupId,
    _map: MapHandle,
    _node: Cgroups,
    _bpf: BpfFs,
    api: Api,
}

async fn redis_boosted_web_plain() -> RedisBoosted {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let (redis, web) = (node.pod_cgroup(1), node.pod_cgroup(2));
    api.apply(redis_pod("4096"));
    api.apply(a_pod(2, "web", NODE, &[], "bb01"));
    let agent = agent(&api, &bpf, &node, |_| {});
    let pin = bpf.pin();
    redis_alone_boosted(&pin, redis).await;
    RedisBoosted {
        agent,
        pin,
        redis,
        web,
        _map,
        _node: node,
        _bpf: bpf,
        api,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_watch_is_relisted_and_the_map_converges() {
    // Bind every field: a `..` would drop the cgroup tree and the bpffs mount here.
    let RedisBoosted {
        agent: _a,
        pin,
        redis: _,
        web,
        _map,
        _node,
        _bpf,
        api,
    } = redis_boosted_web_plain().await;
    let lists = api.lists();

    // Changes whose events are lost, then 410 Gone: only a re-LIST can find them.
    api.apply_silently(a_pod(1, "redis", NODE, &[], "aa01"));
    api.apply_silently(a_pod(
        2,
        "web",
        NODE,
        &[(WEIGHT_ANNOTATION, "2048")],
        "bb01",
    ));
    api.expire();
    eventually("the re-list converges the map", 15, || {
        entries(&pin) == BTreeMap::from([(web, 2048)])
    })
    .await;
    assert!(api.lists() > lists, "the watcher re-listed after 410 Gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_is_survived_and_missed_changes_applied() {
    // Bind every field: a `..` would drop the cgroup tree and the bpffs mount here.
    let RedisBoosted {
        agent: a,
        pin,
        redis,
        web,
        _map,
        _node,
        _bpf,
        api,
    } = redis_boosted_web_plain().await;

    api.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        entries(&pin),
        BTreeMap::from([(redis, 4096)]),
        "the map keeps its entries while the API is away"
    );
    assert!(
        a.metrics.readiness(Instant::now()).is_ok(),
        "an unreachable API server is not an unhealthy agent"
    );
    api.apply(a_pod(
        2,
        "web",
        NODE,
        &[(WEIGHT_ANNOTATION, "4096")],
        "bb01",
    ));
    api.restart().await;
    eventually("the changes made while away are applied", 20, || {
        entries(&pin) == BTreeMap::from([(redis, 4096), (web, 4096)])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_restart_gets_every_boost_back_within_seconds() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let map = bpf.create_map(4096);
    let node = Cgroups::new();
    let redis = node.pod_cgroup(1);
    api.apply(redis_pod("4096"));
    let a = agent(&api, &bpf, &node, |_| {});
    let pin = bpf.pin();
    redis_alone_boosted(&pin, redis).await;
    assert!(a.metrics.readiness(Instant::now()).is_ok());

    // The runner stops (pin gone), then a new one pins a new, empty map.
    bpf.unpin(map);
    eventually("health fails without the map", 5, || !a.metrics.map_open()).await;
    assert!(a.metrics.readiness(Instant::now()).is_err());
    let _map = bpf.create_map(4096);
    let started = Instant::now();
    eventually("the boost is back in the new map", 5, || {
        entries(&pin) == BTreeMap::from([(redis, 4096)])
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    eventually("health recovers", 5, || {
        a.metrics.readiness(Instant::now()).is_ok()
    })
    .await;
    assert_eq!(a.metrics.map_reopens.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_own_all_takes_the_whole_map() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let redis = node.pod_cgroup(1);
    let hand = node.hand_cgroup();
    PrioMap::open(&bpf.pin())
        .expect("open")
        .set(hand, Weight::new(2048).expect("w"))
        .expect("set");
    api.apply(redis_pod("4096"));
    let pin = bpf.pin();

    let dry = agent(&api, &bpf, &node, |o| {
        o.dry_run = true;
        o.own_all = true;
    });
    eventually("the dry run reconciles", 10, || {
        dry.metrics.boosted().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        entries(&pin),
        BTreeMap::from([(hand, 2048)]),
        "a dry run writes nothing"
    );
    assert_eq!(dry.metrics.writes.load(Ordering::Relaxed), 0);
    drop(dry);

    let _owner = agent(&api, &bpf, &node, |o| o.own_all = true);
    eventually("--own-all: only what pods ask for", 10, || {
        entries(&pin) == BTreeMap::from([(redis, 4096)])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_map_keeps_the_rest_and_metrics_are_served() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(2);
    let node = Cgroups::new();
    let ids: Vec<CgroupId> = (1..=3).map(|n| node.pod_cgroup(n)).collect();
    for (n, name) in [(1, "redis"), (2, "web"), (3, "cache")] {
        api.apply(a_pod(n, name, NODE, &[(WEIGHT_ANNOTATION, "4096")], "ee01"));
    }
    let a = agent(&api, &bpf, &node, |_| {});
    let pin = bpf.pin();
    eventually("two of three fit", 10, || entries(&pin).len() == 2).await;
    eventually("the third is an error", 10, || {
        a.metrics.write_errors.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert!(entries(&pin).keys().all(|id| ids.contains(id)));
    assert!(
        a.metrics.readiness(Instant::now()).is_ok(),
        "a full map is not an unhealthy agent"
    );

    let (addr, server) = serve(&a.metrics).await;
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    for line in [
        "mus_agent_boosted_cgroups 2",
        "mus_agent_map_entries 2",
        "mus_agent_map_open 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    let runs: u64 = metric(&text, "mus_agent_reconcile_runs_total").expect("runs") as u64;
    let errors: u64 = metric(&text, "mus_agent_reconcile_errors_total").expect("errors") as u64;
    assert!(runs >= 1 && errors >= 1, "{text}");
    // cpu.stat's usage_usec of pod n is n × 1.5 s.
    let cpu: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("mus_agent_boosted_cpu_seconds_total{"))
        .collect();
    assert_eq!(cpu.len(), 2, "{text}");
    assert!(
        cpu.iter().all(|l| l.contains("namespace=\"shop\"")
            && l.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| [1.5, 3.0, 4.5].contains(&v))),
        "{cpu:?}"
    );
    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(addr, "/nope").await.0, 404);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedulers_counters_are_exported_while_pinned() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let a = agent(&api, &bpf, &node, |_| {});
    let (addr, server) = serve(&a.metrics).await;
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("mus_sched_"), "no pin, no series:\n{text}");

    // Counter i holds (i + 1) × 1000 + cpu on every CPU: its sum is known.
    let stats = bpf.create_stats();
    let cpus = libbpf_rs::num_possible_cpus().expect("cpus");
    let sum = |i: u64| {
        (0..cpus as u64)
            .map(|cpu| (i + 1) * 1000 + cpu)
            .sum::<u64>()
    };
    for i in 0..NR_STATS as u32 {
        let per_cpu: Vec<Vec<u8>> = (0..cpus as u64)
            .map(|cpu| ((u64::from(i) + 1) * 1000 + cpu).to_ne_bytes().to_vec())
            .collect();
        stats
            .update_percpu(&i.to_ne_bytes(), &per_cpu, MapFlags::ANY)
            .expect("update");
    }
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.lines()
            .any(|l| l == "# TYPE mus_sched_runs_boosted_total counter"),
        "{text}"
    );
    for (name, i) in [
        ("runs_boosted", 0),
        ("runs_normal", 1),
        ("dispatch_idle", 2),
        ("dispatch_shared", 3),
        ("weight_refreshes", 6),
        ("map_changes", 7),
        ("starvation_rescues", 8),
        ("preemptions", 9),
        ("short_slices", 10),
    ] {
        let got = metric(&text, &format!("mus_sched_{name}_total"));
        assert_eq!(
            got,
            Some(sum(i) as f64),
            "mus_sched_{name}_total in\n{text}"
        );
    }
    // The runtimes are nanoseconds in the map, seconds in Prometheus.
    for (name, i) in [
        ("runtime_boosted_seconds", 4),
        ("runtime_normal_seconds", 5),
    ] {
        let got = metric(&text, &format!("mus_sched_{name}_total")).expect(name);
        assert!((got - sum(i) as f64 / 1e9).abs() < 1e-12, "{name}: {got}");
    }
    assert_eq!(
        text.matches("\nmus_sched_").count(),
        NR_STATS,
        "one series per counter:\n{text}"
    );

    // The runner stops: the pin goes, and the series with it.
    std::fs::remove_file(mus_common::stats_pin_path(&bpf.pin())).expect("unpin");
    drop(stats);
    let (_, text) = get(addr, "/metrics").await;
    assert!(!text.contains("mus_sched_"), "{text}");
    server.abort();
}

/// Whether a Kubernetes Event with `reason` was posted about pod `ns/name`.
fn event_posted(api: &Api, ns: &str, name: &str, reason: &str) -> bool {
    api.requests().iter().any(|(m, q, body)| {
        m == "POST"
            && q.starts_with(&format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"))
            && body.contains(&format!("\"name\":\"{name}\""))
            && body.contains(reason)
    })
}

/// `p`, changed by `f` (a namespace, a priority class, requests, an age).
fn shaped(mut p: Pod, f: impl FnOnce(&mut Pod)) -> Pod {
    f(&mut p);
    p
}

fn created(p: &mut Pod, at: &str) {
    p.metadata.creation_timestamp =
        Some(serde_json::from_value(serde_json::json!(at)).expect("time"));
}

fn requesting_cpu(p: &mut Pod, cpu: &str) {
    let spec = p.spec.as_mut().expect("spec");
    spec.containers[0].resources = Some(k8s_openapi::api::core::v1::ResourceRequirements {
        requests: Some(BTreeMap::from([("cpu".to_string(), Quantity(cpu.into()))])),
        ..Default::default()
    });
}

fn refused(a: &Agent) -> BTreeMap<String, u64> {
    a.metrics
        .refused()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_the_policy_grants_is_boosted_and_refusals_are_reported() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let (critical, sneaky, greedy, web, late, classy) = (
        node.pod_cgroup(1),
        node.pod_cgroup(2),
        node.pod_cgroup(3),
        node.pod_cgroup(4),
        node.pod_cgroup(5),
        node.pod_cgroup(6),
    );
    let b = (BOOST_ANNOTATION, "true");
    // A PriorityClass the policy grants 8192, no annotation needed.
    api.apply(shaped(a_pod(1, "critical", NODE, &[], "aa01"), |p| {
        created(p, "2026-01-01T00:00:00Z");
        p.spec.as_mut().expect("spec").priority_class_name = Some("latency-critical".into());
    }));
    // An annotation in a namespace the policy does not select.
    api.apply(shaped(a_pod(2, "sneaky", NODE, &[b], "bb01"), |p| {
        created(p, "2026-01-02T00:00:00Z");
        p.metadata.namespace = Some("dev".into());
    }));
    // More than maxWeight, in a selected namespace.
    api.apply(shaped(
        a_pod(3, "greedy", NODE, &[(WEIGHT_ANNOTATION, "65536")], "cc01"),
        |p| created(p, "2026-01-03T00:00:00Z"),
    ));
    api.apply(shaped(a_pod(4, "web", NODE, &[b], "dd01"), |p| {
        created(p, "2026-01-04T00:00:00Z")
    }));
    // The class, in a namespace the policy does not grant it in.
    api.apply(shaped(a_pod(6, "classy", NODE, &[], "ff01"), |p| {
        created(p, "2026-01-06T00:00:00Z");
        p.metadata.namespace = Some("dev".into());
        p.spec.as_mut().expect("spec").priority_class_name = Some("latency-critical".into());
    }));
    // Granted, but the node already boosts maxPods (2) older pods.
    api.apply(shaped(a_pod(5, "late", NODE, &[b], "ee01"), |p| {
        created(p, "2026-01-05T00:00:00Z")
    }));
    let a = agent(&api, &bpf, &node, |o| {
        o.policy = policy(&format!(
            "maxWeight: 8192
priorityClasses: {{latency-critical: 8192}}
classNamespaceSelector: {{matchLabels: {{{k}: {v}}}}}
annotations: {{namespaceSelector: {{matchLabels: {{{k}: {v}}}}}}}
nodeCap: {{maxPods: 2}}
",
            k = ALLOWED.0,
            v = ALLOWED.1
        ))
    });
    let pin = bpf.pin();
    eventually("critical and web are boosted", 10, || {
        entries(&pin) == BTreeMap::from([(critical, 8192), (web, 4096)])
    })
    .await;
    eventually("four refusals, each with its reason", 10, || {
        refused(&a)
            == counts(&[
                ("namespace_not_selected", 2),
                ("node_max_pods", 1),
                ("over_max_weight", 1),
            ])
    })
    .await;
    eventually("each refused pod has a BoostRefused Event", 10, || {
        event_posted(&api, "dev", "sneaky", "BoostRefused")
            && event_posted(&api, NS, "greedy", "BoostRefused")
            && event_posted(&api, NS, "late", "BoostRefused")
            && event_posted(&api, "dev", "classy", "BoostRefused")
    })
    .await;
    for id in [sneaky, greedy, late, classy] {
        assert!(!entries(&pin).contains_key(&id));
    }

    // The class's pod goes: the cap has room, and the next oldest granted pod gets it.
    api.delete(&uid_of(1));
    eventually("late is boosted once critical is gone", 10, || {
        entries(&pin) == BTreeMap::from([(web, 4096), (late, 4096)])
    })
    .await;
    // An annotation cannot raise a class's grant, nor can a pod in "dev" get one
    // by annotating differently.
    api.apply(shaped(
        a_pod(2, "sneaky", NODE, &[(WEIGHT_ANNOTATION, "2048")], "bb01"),
        |p| p.metadata.namespace = Some("dev".into()),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!entries(&pin).contains_key(&sneaky));
    let (addr, server) = serve(&a.metrics).await;
    let (_, text) = get(addr, "/metrics").await;
    assert!(
        text.lines()
            .any(|l| l == "mus_agent_refused_boosts{reason=\"namespace_not_selected\"} 2"),
        "{text}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_policy_nothing_is_boosted_and_old_boosts_go() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let (redis, web) = (node.pod_cgroup(1), node.pod_cgroup(2));
    // An entry of this daemon from a run under a policy that granted it.
    PrioMap::open(&bpf.pin())
        .expect("open")
        .set_with_flags(
            web,
            Weight::HIGH_DEFAULT,
            PrioFlags::watch_by(OwnerId::of_node(NODE)),
        )
        .expect("set");
    api.apply(redis_pod("4096"));
    api.apply(a_pod(2, "web", NODE, &[(BOOST_ANNOTATION, "true")], "bb01"));
    let a = agent(&api, &bpf, &node, |o| o.policy = Policy::default());
    let pin = bpf.pin();
    eventually("both annotations are refused", 10, || {
        refused(&a) == counts(&[("annotations_off", 2)])
    })
    .await;
    eventually("the old boost is removed", 10, || entries(&pin).is_empty()).await;
    assert!(!entries(&pin).contains_key(&redis));
    assert!(
        event_posted(&api, NS, "redis", "BoostRefused") || {
            tokio::time::sleep(Duration::from_secs(1)).await;
            event_posted(&api, NS, "redis", "BoostRefused")
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cpu_cap_counts_requests_against_the_nodes_allocatable_cpu() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let ids: Vec<CgroupId> = (1..=4).map(|n| node.pod_cgroup(n)).collect();
    let b = (BOOST_ANNOTATION, "true");
    // The node has 2 CPUs: half is 1000m. 600m + 300m fit, the next 300m does not;
    // a pod without a CPU request cannot be counted, so it is refused.
    for (n, name, cpu) in [
        (1, "a", Some("600m")),
        (2, "b", Some("0.3")),
        (3, "c", Some("300m")),
        (4, "d", None),
    ] {
        api.apply(shaped(a_pod(n, name, NODE, &[b], "aa01"), |p| {
            created(p, &format!("2026-01-0{n}T00:00:00Z"));
            if let Some(cpu) = cpu {
                requesting_cpu(p, cpu);
            }
        }));
    }
    let a = agent(&api, &bpf, &node, |o| {
        o.policy = policy(&format!(
            "annotations: {{namespaceSelector: {{matchLabels: {{{}: {}}}}}}}
nodeCap: {{maxCpuRequestFraction: 0.5}}
",
            ALLOWED.0, ALLOWED.1
        ))
    });
    let pin = bpf.pin();
    eventually("the first two fit under the cap", 10, || {
        entries(&pin) == BTreeMap::from([(ids[0], 4096), (ids[1], 4096)])
    })
    .await;
    eventually("the rest are refused, each with its reason", 10, || {
        refused(&a) == counts(&[("no_cpu_request", 1), ("node_cpu_fraction", 1)])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_and_the_cli_never_remove_or_rewrite_each_others_entries() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let (redis, web, other) = (node.pod_cgroup(1), node.pod_cgroup(2), node.pod_cgroup(3));
    let pin = bpf.pin();
    let map = PrioMap::open(&pin).expect("open");
    // An operator boosted web by hand before its pod was annotated; a daemon
    // with another node name left an entry on a cgroup no pod here asks for.
    map.set(web, Weight::new(2048).expect("w")).expect("set");
    let theirs = PrioFlags::watch_by(OwnerId::of_node("node-b"));
    map.set_with_flags(other, Weight::HIGH_DEFAULT, theirs)
        .expect("set");
    api.apply(redis_pod("8192"));
    api.apply(a_pod(
        2,
        "web",
        NODE,
        &[(WEIGHT_ANNOTATION, "4096")],
        "bb01",
    ));
    let a = agent(&api, &bpf, &node, |_| {});
    eventually("redis is boosted", 10, || {
        entries(&pin).get(&redis) == Some(&8192)
    })
    .await;
    eventually("web's CLI entry is reported, not taken", 10, || {
        refused(&a) == counts(&[("held_by_other", 1)])
            && event_posted(&api, NS, "web", "BoostHeldByOther")
    })
    .await;
    let entry = |id| map.get(id).expect("get").expect("entry");
    assert_eq!(entry(web).weight, 2048, "the CLI's weight stays");
    assert!(entry(web).has(PrioFlags::CLI) && !entry(web).has(PrioFlags::WATCH));
    assert_eq!(
        entry(other).flags,
        theirs.bits(),
        "the other daemon's entry stays"
    );

    // The CLI refuses to touch the daemon's entry without --force...
    // (By cgroup ID: the test's cgroup tree is not a cgroup2 mount.)
    let err = boost::boost_id(&map, redis, Weight::new(100).expect("w"), false).unwrap_err();
    assert!(matches!(err, BoostError::HeldByDaemon { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    let err = boost::unboost_id(&map, redis, false).unwrap_err();
    assert!(matches!(err, BoostError::HeldByDaemon { .. }), "{err}");
    assert_eq!(entry(redis).weight, 8192);
    // ... and with it, the entry is the CLI's, which the daemon then leaves alone.
    boost::boost_id(&map, redis, Weight::new(100).expect("w"), true).expect("forced");
    // (A pod event, so that a pass runs before the 30 s resync.)
    api.apply(a_pod(
        1,
        "redis",
        NODE,
        &[(WEIGHT_ANNOTATION, "8192")],
        "aa02",
    ));
    eventually(
        "redis's forced entry is reported, not rewritten",
        10,
        || refused(&a) == counts(&[("held_by_other", 2)]),
    )
    .await;
    assert_eq!(entry(redis).weight, 100);
    assert!(entry(redis).has(PrioFlags::CLI));

    // The operator unboosts web by hand: the pod's grant applies at the next pass.
    boost::unboost_id(&map, web, false).expect("unboost a CLI entry");
    api.apply(a_pod(
        2,
        "web",
        NODE,
        &[(WEIGHT_ANNOTATION, "4096")],
        "bb02",
    ));
    eventually("web is the daemon's now", 10, || watched(&pin, web)).await;
    assert_eq!(entry(web).weight, 4096);
    assert_eq!(entry(other).flags, theirs.bits());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_with_a_wrong_node_name_stops_or_leaves_the_others_entries() {
    let api = Api::start().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let redis = node.pod_cgroup(1);
    api.cluster
        .lock()
        .expect("cluster")
        .nodes
        .push(a_node("node-b", "2", "another-boot-id"));
    api.apply(redis_pod("4096"));
    let _first = agent(&api, &bpf, &node, |_| {});
    let pin = bpf.pin();
    redis_alone_boosted(&pin, redis).await;

    // Told another node's name: that Node's boot ID is not this machine's.
    let wrong = agent(&api, &bpf, &node, |o| o.node = "node-b".into());
    let mut wrong = wrong;
    let ended = tokio::time::timeout(Duration::from_secs(10), &mut wrong.task)
        .await
        .expect("the daemon stops")
        .expect("join");
    let err = ended.unwrap_err();
    assert!(matches!(err, WatchError::WrongNode { .. }), "{err}");
    assert!(err.to_string().contains("downward API"), "{err}");
    // Told a name no Node has.
    let missing = agent(&api, &bpf, &node, |o| o.node = "node-z".into());
    let mut missing = missing;
    let ended = tokio::time::timeout(Duration::from_secs(10), &mut missing.task)
        .await
        .expect("the daemon stops")
        .expect("join");
    assert!(
        matches!(ended, Err(WatchError::NoSuchNode { .. })),
        "{ended:?}"
    );

    // Without the boot ID check (a kubelet that reports none), the owner id still
    // keeps the second daemon off the first one's entries: node-b has no pods, so
    // it wants nothing here, and deletes nothing.
    let second = agent(&api, &bpf, &node, |o| {
        o.node = "node-b".into();
        o.boot_id = None;
    });
    eventually("the second daemon ran passes", 10, || {
        second.metrics.reconcile_runs.load(Ordering::Relaxed) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(entries(&pin), BTreeMap::from([(redis, 4096)]));
    assert_eq!(second.metrics.deletes.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_never_overwrites_another_writer() {
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(16);
    let map = PrioMap::open(&bpf.pin()).expect("open");
    let id = CgroupId(42);
    let w = |v| Weight::new(v).expect("w");
    let ours = PrioFlags::watch_by(OwnerId::of_node(NODE));
    let read = |weight, flags: PrioFlags| Entry {
        cgroup: id,
        weight,
        flags: flags.bits(),
    };
    // New entry: only if there is none.
    assert_eq!(
        map.compare_and_swap(id, None, Some((w(4096), ours)))
            .expect("cas"),
        Swap::Done
    );
    assert_eq!(
        map.compare_and_swap(id, None, Some((w(100), PrioFlags::CLI)))
            .expect("cas"),
        Swap::Lost(Some(read(4096, ours)))
    );
    // The daemon read 4096; the CLI re-wrote it meanwhile: the daemon's delete and
    // re-weight both leave the CLI's entry as it is.
    map.set(id, w(2048)).expect("set");
    let stale = read(4096, ours);
    assert_eq!(
        map.compare_and_swap(id, Some(stale), None).expect("cas"),
        Swap::Lost(Some(read(2048, PrioFlags::CLI)))
    );
    assert_eq!(
        map.compare_and_swap(id, Some(stale), Some((w(8192), ours)))
            .expect("cas"),
        Swap::Lost(Some(read(2048, PrioFlags::CLI)))
    );
    assert_eq!(map.get(id).expect("get"), Some(read(2048, PrioFlags::CLI)));
    // With the entry as read: done.
    let now = read(2048, PrioFlags::CLI);
    assert_eq!(
        map.compare_and_swap(id, Some(now), None).expect("cas"),
        Swap::Done
    );
    assert_eq!(map.get(id).expect("get"), None);
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A plain HTTP/1.1 GET: (status, body).
/// The agent's HTTP endpoint on a free loopback port.
async fn serve(metrics: &Arc<Metrics>) -> (SocketAddr, JoinHandle<()>) {
    http::serve(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::clone(metrics),
        Limits::default(),
    )
    .await
    .expect("serve")
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        status_and_body(&out)
    })
    .await
    .expect("join")
}
