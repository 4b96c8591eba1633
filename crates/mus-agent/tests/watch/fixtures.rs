//! What the daemon's tests share: the cluster it watches, the node it runs on (a
//! cgroup tree and the scheduler's map), the daemon itself, and waiting for it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use libbpf_rs::MapHandle;
use mus_agent::daemon::grant::annotations::WEIGHT_ANNOTATION;
use mus_agent::daemon::grant::policy::Policy;
use mus_agent::daemon::http::{self, Limits};
use mus_agent::daemon::metrics::Metrics;
use mus_agent::daemon::options::{self, WatchOptions};
use mus_agent::daemon::watch::{self, WatchError};
use mus_common::{CgroupId, PrioFlags, PrioMap, Weight};
use tokio::task::JoinHandle;

use crate::common::bpffs::BpfFs;
use crate::common::cluster::Cluster;
use crate::common::{Call, PodSpecOf, Reply, State, a_namespace, a_node, pod};

pub const NODE: &str = "node-a";
pub const NS: &str = "shop";

/// The namespace label the tests' policy selects on.
pub const ALLOWED: (&str, &str) = ("mus.patos.dev/boost", "allowed");

/// This machine's boot ID, which the Node the agent runs on reports.
fn boot_id() -> String {
    std::fs::read_to_string(options::BOOT_ID_PATH)
        .expect("boot_id")
        .trim()
        .to_string()
}

/// The cluster: this node (2 CPUs, this machine's boot ID), a namespace the policy
/// selects and one it does not, and no pods yet.
pub async fn cluster() -> Cluster {
    cluster_with(|_| None).await
}

/// [`cluster`], whose answer to a request is `first`'s when it has one.
pub async fn cluster_with(
    first: impl Fn(&Call) -> Option<Reply> + Send + Sync + 'static,
) -> Cluster {
    let cluster = Cluster::start_with(first).await;
    cluster.add_node(a_node(NODE, "2", &boot_id()));
    cluster.add_namespace(a_namespace(NS, &[ALLOWED]));
    cluster.add_namespace(a_namespace("dev", &[]));
    cluster
}

// ---------------------------------------------------------------------------------
// The node: a bpffs with the scheduler's map (common::bpffs), and a cgroup tree.

pub fn uid_of(n: u8) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

/// The cgroup tree: pod cgroups in the cgroupfs driver's layout, each with a
/// cpu.stat, and a cgroup no pod owns for hand-written boosts.
pub struct Cgroups {
    pub root: tempfile::TempDir,
}

impl Cgroups {
    pub fn new() -> Cgroups {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("system.slice/batch.service")).expect("mkdir");
        Cgroups { root }
    }

    /// The cgroup of pod number `n` ([`uid_of`]), which has used `n` * 1.5 s of CPU.
    pub fn pod_cgroup(&self, n: u8) -> CgroupId {
        self.uid_cgroup(&uid_of(n), u64::from(n) * 1_500_000)
    }

    /// The cgroup the kubelet names after `uid` (a static pod's is its manifest's
    /// hash), which has used `usage_usec` of CPU.
    pub fn uid_cgroup(&self, uid: &str, usage_usec: u64) -> CgroupId {
        let dir = self
            .root
            .path()
            .join(format!("kubepods/burstable/pod{uid}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("cpu.stat"), format!("usage_usec {usage_usec}\n"))
            .expect("cpu.stat");
        CgroupId(std::fs::metadata(&dir).expect("stat").ino())
    }

    /// The cgroup of container `cid` (containerd's, cgroupfs layout) of pod `n`.
    pub fn container_cgroup(&self, n: u8, cid: &str) -> CgroupId {
        let dir = self
            .root
            .path()
            .join(format!("kubepods/burstable/pod{}/{cid}", uid_of(n)));
        std::fs::create_dir_all(&dir).expect("mkdir");
        CgroupId(std::fs::metadata(&dir).expect("stat").ino())
    }

    pub fn hand_cgroup(&self) -> CgroupId {
        let dir = self.root.path().join("system.slice/batch.service");
        CgroupId(std::fs::metadata(dir).expect("stat").ino())
    }
}

/// Pod number `n` named `name` on `node`, with `annotations` and container ID `cid`.
pub fn a_pod(n: u8, name: &str, node: &str, annotations: &[(&str, &str)], cid: &str) -> Pod {
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
pub fn redis_pod(weight: &str) -> Pod {
    a_pod(1, "redis", NODE, &[(WEIGHT_ANNOTATION, weight)], "aa01")
}

pub fn entries(pin: &Path) -> BTreeMap<CgroupId, u32> {
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
pub fn watched(pin: &Path, id: CgroupId) -> bool {
    let entry = PrioMap::open(pin).expect("open").get(id).expect("get");
    entry.is_some_and(|e| e.has(PrioFlags::WATCH))
}

pub async fn eventually(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
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
pub async fn redis_alone_boosted(pin: &Path, redis: CgroupId) {
    eventually("redis is boosted", 10, || {
        entries(pin) == BTreeMap::from([(redis, 4096)])
    })
    .await;
}

/// Two pods on this node, redis annotated at 4096 and web not, with a running agent
/// that has boosted redis. Fields drop in order: the agent before the map, the bpffs
/// mount and the API server it uses.
pub struct RedisBoosted {
    pub agent: Agent,
    pub pin: PathBuf,
    pub redis: CgroupId,
    pub web: CgroupId,
    pub _map: MapHandle,
    pub _node: Cgroups,
    pub _bpf: BpfFs,
    pub api: Cluster,
}

pub async fn redis_boosted_web_plain() -> RedisBoosted {
    let api = cluster().await;
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

pub struct Agent {
    pub metrics: Arc<Metrics>,
    pub task: JoinHandle<Result<(), WatchError>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The policy of most tests: annotations honoured in namespaces labelled
/// [`ALLOWED`] (NS is, "dev" is not), up to the scheduler's maximum weight.
pub fn annotations_in_allowed_namespaces() -> Policy {
    policy(&format!(
        "maxWeight: 65536\nannotations: {{namespaceSelector: {{matchLabels: {{{}: {}}}}}}}\n",
        ALLOWED.0, ALLOWED.1
    ))
}

pub fn policy(yaml: &str) -> Policy {
    Policy::parse(yaml, Path::new("test-policy.yaml")).expect("policy")
}

/// A daemon for [`NODE`] under [`annotations_in_allowed_namespaces`], changed by `tweak`.
pub fn agent(
    api: &Cluster,
    bpf: &BpfFs,
    node: &Cgroups,
    tweak: impl FnOnce(&mut WatchOptions),
) -> Agent {
    agent_on(api.client(), bpf, node, tweak)
}

/// [`agent`], talking to the API server through `client` (a fake one with its own
/// handler, or the agent's client with a deadline).
pub fn agent_on(
    client: kube::Client,
    bpf: &BpfFs,
    node: &Cgroups,
    tweak: impl FnOnce(&mut WatchOptions),
) -> Agent {
    let mut opts = WatchOptions::new(NODE.into(), bpf.pin(), node.root.path().to_path_buf());
    opts.policy = annotations_in_allowed_namespaces();
    opts.pin_check_interval = Duration::from_millis(200);
    opts.resync_interval = Duration::from_secs(30);
    tweak(&mut opts);
    let stats_pin = mus_common::stats_pin_path(&opts.pin_path);
    let metrics = Arc::new(Metrics::new(opts.stale_after(), Some(stats_pin)));
    let task = tokio::spawn(watch::run(client, opts, Arc::clone(&metrics)));
    Agent { metrics, task }
}

pub fn w(v: u32) -> u32 {
    Weight::new(v.into()).expect("weight").get()
}

/// The refusals the daemon counts now, by reason.
pub fn refused(a: &Agent) -> BTreeMap<String, u64> {
    a.metrics
        .refused()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// `pairs` as [`refused`] gives them.
pub fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The value of the unlabelled series `name` in a /metrics text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The agent's HTTP endpoint on a free loopback port.
pub async fn serve(metrics: &Arc<Metrics>) -> (SocketAddr, JoinHandle<()>) {
    http::serve(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::clone(metrics),
        Limits::default(),
    )
    .await
    .expect("serve")
}
