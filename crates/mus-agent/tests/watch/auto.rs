//! Auto CPUBoosts end to end against the fake API server and a real pinned map:
//! the weight follows the pod cgroup's `cpu.pressure` (the file the daemon reads
//! on a node, written here by the test), rising while the target is missed and
//! stepping back to no entry at all after the cool-down; each change is an Event
//! on the object and a metric, the object's status shows the weight this node
//! holds; a restarted daemon resumes from the map's weight; a wait target where
//! no wait histograms are pinned holds `minWeight` and says why; `--dry-run`
//! changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use mus_agent::cpuboost::{CPUBoost, NodeBoost};
use mus_common::CgroupId;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::common::a_boost;
use crate::common::bpffs::BpfFs;
use crate::common::cluster::Cluster;
use crate::common::endpoint::get;
use crate::fixtures::*;

const INTERVAL: Duration = Duration::from_millis(200);

/// Redis (pod 1) on this node, busy (its `cpu.stat` grows by a CPU's worth), with
/// `cpu.pressure` some avg10 at `psi` percent.
struct Node {
    api: Cluster,
    bpf: BpfFs,
    _map: libbpf_rs::MapHandle,
    cgroups: Cgroups,
    redis: CgroupId,
    busy: JoinHandle<()>,
}

impl Node {
    async fn new(psi: f64) -> Node {
        let api = cluster().await;
        let bpf = BpfFs::mount();
        let _map = bpf.create_map(4096);
        let cgroups = Cgroups::new();
        let redis = cgroups.pod_cgroup(1);
        api.apply(a_pod(1, "redis", NODE, &[], "aa01"));
        let dir = redis_dir(&cgroups);
        let busy = tokio::spawn(async move {
            let mut usage = 0u64;
            loop {
                usage += 100_000;
                let _ = std::fs::write(dir.join("cpu.stat"), format!("usage_usec {usage}\n"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let n = Node {
            api,
            bpf,
            _map,
            cgroups,
            redis,
            busy,
        };
        n.pressure(psi);
        n
    }

    fn pressure(&self, avg10: f64) {
        std::fs::write(
            redis_dir(&self.cgroups).join("cpu.pressure"),
            format!(
                "some avg10={avg10:.2} avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
            ),
        )
        .expect("cpu.pressure");
    }

    fn agent(&self, tweak: impl FnOnce(&mut mus_agent::daemon::options::WatchOptions)) -> Agent {
        agent(&self.api, &self.bpf, &self.cgroups, |o| {
            o.auto_interval = INTERVAL;
            tweak(o);
        })
    }

    fn redis_weight(&self) -> Option<u32> {
        entries(&self.bpf.pin()).get(&self.redis).copied()
    }

    fn item(&self, name: &str) -> Option<NodeBoost> {
        let boost: CPUBoost = self.api.boost(NS, name)?;
        boost.status?.nodes.into_iter().find(|n| n.node == NODE)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.busy.abort();
    }
}

fn redis_dir(cgroups: &Cgroups) -> PathBuf {
    cgroups
        .root
        .path()
        .join(format!("kubepods/burstable/pod{}", uid_of(1)))
}

/// An auto boost of redis for an hour, with `auto` as its `spec.auto`.
fn auto_boost(name: &str, auto: serde_json::Value) -> CPUBoost {
    a_boost(
        NS,
        name,
        &Timestamp::now().to_string(),
        json!({"podName": "redis", "duration": "1h", "reason": "hold redis's latency", "auto": auto}),
    )
}

/// The PSI target of these tests: some avg10 under 10 %, calm under 5 %.
fn psi_target() -> serde_json::Value {
    json!({"target": {"psiSomeAvg10": 10}, "coolDown": "1s"})
}

/// The value of series `name{labels}` in a /metrics text.
fn labelled(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}{{{labels}}} "))?
            .parse()
            .ok()
    })
}

async fn weight_is(n: &Node, what: &str, weight: Option<u32>) {
    eventually(what, 8, || n.redis_weight() == weight).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_boost_follows_the_pods_pressure_and_says_so() {
    let n = Node::new(2.0).await;
    let a = n.agent(|_| {});
    let (addr, _server) = serve(&a.metrics).await;
    n.api.apply_boost(auto_boost("auto", psi_target()));
    // Calm: granted, at 1024, which is no entry.
    eventually("the status shows weight 1024 on this node", 5, || {
        n.item("auto")
            .is_some_and(|i| i.pods == 1 && i.weight == 1024)
    })
    .await;
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(n.redis_weight(), None, "calm: no boost held");

    // Noise: the target is missed, the weight doubles to maxWeight.
    n.pressure(40.0);
    weight_is(&n, "raised to maxWeight 4096", Some(4096)).await;
    eventually("an AutoRaised Event for each step", 5, || {
        n.api.event_with(
            NS,
            "auto",
            "AutoRaised",
            "pod shop/redis: raised weight 1024 -> 2048: the target is missed, mostly behind other pods (PSI some avg10 40.0%, target 10.0%",
        ) && n.api.event_with(NS, "auto", "AutoRaised", "2048 -> 4096")
    })
    .await;
    eventually("the status shows weight 4096", 5, || {
        n.item("auto").is_some_and(|i| i.weight == 4096)
    })
    .await;
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(n.redis_weight(), Some(4096), "never above maxWeight");

    // Quiet again: after the cool-down, down by lowerStep to no entry at all.
    n.pressure(1.0);
    weight_is(&n, "lowered to no entry", None).await;
    eventually("an AutoLowered Event for each step", 5, || {
        n.api.event_with(
            NS,
            "auto",
            "AutoLowered",
            "lowered weight 4096 -> 3072: the target is met with room to spare, no miss behind other pods for the cool-down",
        ) && n.api.event_with(NS, "auto", "AutoLowered", "2048 -> 1024")
    })
    .await;
    eventually("the status shows weight 1024 again", 5, || {
        n.item("auto").is_some_and(|i| i.weight == 1024)
    })
    .await;
    // One grant all along: the weight's moves are the auto Events' business.
    let granted = n
        .api
        .requests()
        .iter()
        .filter(|c| {
            c.body.contains("\"reason\":\"BoostGranted\"") && c.body.contains("\"name\":\"auto\"")
        })
        .count();
    assert_eq!(granted, 1, "BoostGranted once on the object");

    let (_, text) = get(addr, "/metrics").await;
    let changes = |direction: &str| {
        labelled(
            &text,
            "mus_agent_cpuboost_auto_changes_total",
            &format!("direction=\"{direction}\""),
        )
    };
    assert_eq!(changes("raised"), Some(2.0), "{text}");
    assert_eq!(changes("lowered"), Some(3.0), "{text}");
    assert_eq!(
        labelled(
            &text,
            "mus_agent_cpuboost_auto_weight",
            "cpuboost=\"shop/auto\",pod=\"shop/redis\""
        ),
        Some(1024.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_resumes_the_auto_weight_in_the_map() {
    let n = Node::new(40.0).await;
    n.api.apply_boost(auto_boost("auto", psi_target()));
    let a = n.agent(|_| {});
    weight_is(&n, "raised to 4096", Some(4096)).await;
    drop(a);
    // In the band (met, not with room to spare): a resumed controller holds.
    n.pressure(7.0);
    let b = n.agent(|_| {});
    eventually("the new daemon's first pass", 5, || {
        b.metrics
            .reconcile_runs
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    })
    .await;
    tokio::time::sleep(INTERVAL * 8).await;
    assert_eq!(
        n.redis_weight(),
        Some(4096),
        "resumed from the map's weight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_target_without_wait_histograms_holds_min_weight_and_says_why() {
    let n = Node::new(40.0).await;
    let _a = n.agent(|_| {});
    n.api.apply_boost(auto_boost(
        "waits",
        json!({"target": {"waitP99": "1ms"}, "minWeight": 2048}),
    ));
    weight_is(&n, "held at minWeight", Some(2048)).await;
    eventually("the status item says why", 5, || {
        n.item("waits").is_some_and(|i| {
            i.weight == 2048
                && i.auto_problem.as_deref().is_some_and(|p| {
                    p.starts_with("wait p99 1ms cannot be measured for pod shop/redis: no wait histograms are pinned")
                        && p.ends_with("holding minWeight 2048")
                })
        })
    })
    .await;
    eventually("a Warning Event says why", 5, || {
        n.api
            .event_with(NS, "waits", "AutoSignalMissing", "start mus-runner first")
    })
    .await;
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(
        n.redis_weight(),
        Some(2048),
        "the pressure does not move it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_boost_above_its_weight_is_refused_in_one_sentence() {
    let n = Node::new(40.0).await;
    let _a = n.agent(|_| {});
    n.api.apply_boost(auto_boost(
        "greedy",
        json!({"target": {"psiSomeAvg10": 10}, "maxWeight": 8192}),
    ));
    eventually("refused", 5, || {
        n.api
            .boost(NS, "greedy")
            .and_then(|b| b.status)
            .is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == "Refused"
                        && c.status == "True"
                        && c.message == "spec.auto.maxWeight 8192 is above spec.weight 4096: spec.weight is the most an auto boost may reach, so raise it or lower maxWeight"
                })
            })
    })
    .await;
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(entries(&n.bpf.pin()), BTreeMap::new(), "nothing boosted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_moves_no_weight() {
    let n = Node::new(40.0).await;
    let a = n.agent(|o| o.dry_run = true);
    n.api.apply_boost(auto_boost("auto", psi_target()));
    eventually("a pass with the object", 5, || {
        a.metrics
            .reconcile_runs
            .load(std::sync::atomic::Ordering::Relaxed)
            > 1
    })
    .await;
    tokio::time::sleep(INTERVAL * 6).await;
    assert_eq!(entries(&n.bpf.pin()), BTreeMap::new());
    assert!(!n.api.event_posted(NS, "auto", "AutoRaised"));
    assert!(n.api.boost(NS, "auto").and_then(|b| b.status).is_none());
}
