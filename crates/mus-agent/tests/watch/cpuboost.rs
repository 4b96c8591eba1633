//! CPUBoost objects end to end against the fake API server and a real pinned map:
//! an object grants the pods it selects its weight (ahead of their annotations),
//! its entries leave the map within moments of its end or deletion, a restarted
//! daemon restores only the boosts still in force, every refusal is one sentence
//! in the object's status and Events, and each node applies its own part of the
//! status without rewriting what is already there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use mus_agent::cpuboost::{CPUBoost, NodeBoost};
use mus_agent::daemon::grant::annotations::WEIGHT_ANNOTATION;
use serde_json::json;

use crate::common::a_boost;
use crate::common::bpffs::BpfFs;
use crate::common::cluster::Cluster;
use crate::common::endpoint::get;
use crate::fixtures::*;

/// Now, shifted by `secs` (negative: in the past), as a creationTimestamp.
fn at(secs: i64) -> String {
    (Timestamp::now() + SignedDuration::from_secs(secs)).to_string()
}

/// The condition `type_` of `name`'s status: (status, reason, message).
fn condition(api: &Cluster, name: &str, type_: &str) -> Option<(String, String, String)> {
    let boost: CPUBoost = api.boost(NS, name)?;
    boost
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason, c.message))
}

fn is(api: &Cluster, name: &str, type_: &str, status: &str) -> bool {
    condition(api, name, type_).is_some_and(|c| c.0 == status)
}

/// Redis (pod 1, label app=redis) and web (pod 2) on this node, neither annotated.
struct Node {
    api: Cluster,
    bpf: BpfFs,
    _map: libbpf_rs::MapHandle,
    cgroups: Cgroups,
    redis: mus_common::CgroupId,
    web: mus_common::CgroupId,
}

async fn node() -> Node {
    let api = cluster().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let cgroups = Cgroups::new();
    let (redis, web) = (cgroups.pod_cgroup(1), cgroups.pod_cgroup(2));
    api.apply(a_pod(1, "redis", NODE, &[], "aa01"));
    api.apply(a_pod(2, "web", NODE, &[], "bb01"));
    Node {
        api,
        bpf,
        _map,
        cgroups,
        redis,
        web,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_boosts_its_pods_until_it_ends_and_says_so() {
    let n = node().await;
    let pin = n.bpf.pin();
    let a = agent(&n.api, &n.bpf, &n.cgroups, |_| {});
    let (addr, _server) = serve(&a.metrics).await;
    // Wait for a first pass: nothing asks for a boost yet.
    eventually("a first pass", 10, || {
        a.metrics
            .reconcile_runs
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    })
    .await;
    assert!(entries(&pin).is_empty());

    n.api.apply_boost(a_boost(
        NS,
        "incident",
        &at(0),
        json!({"selector": {"matchLabels": {"app": "redis"}}, "weight": 8192,
               "duration": "3s", "reason": "INC-1: checkout latency"}),
    ));
    let ends = Instant::now() + Duration::from_secs(3);
    eventually("redis is boosted at the object's weight", 5, || {
        entries(&pin) == BTreeMap::from([(n.redis, 8192)])
    })
    .await;
    eventually("the status says so", 5, || {
        n.api
            .boost(NS, "incident")
            .and_then(|b| b.status)
            .is_some_and(|s| {
                s.active_pods == 1
                    && s.active_nodes == 1
                    && s.weight == Some(8192)
                    && s.nodes
                        == [NodeBoost {
                            node: NODE.into(),
                            pods: 1,
                            weight: 8192,
                            auto_problem: None,
                        }]
            })
            && is(&n.api, "incident", "Active", "True")
            && is(&n.api, "incident", "Accepted", "True")
    })
    .await;
    assert!(
        n.api
            .event_with(NS, "redis", "BoostGranted", "INC-1: checkout latency")
    );
    assert!(n.api.event_with(
        NS,
        "incident",
        "BoostGranted",
        "boosting pod shop/redis at weight 8192"
    ));

    // The end: the entry goes within a second or two of it, unprompted by any event.
    eventually("redis's boost ends with the object", 6, || {
        entries(&pin).is_empty()
    })
    .await;
    let late = Instant::now().saturating_duration_since(ends);
    assert!(
        late < Duration::from_secs(2),
        "removed {late:?} after the end"
    );
    eventually("the status says it expired", 5, || {
        is(&n.api, "incident", "Expired", "True")
            && is(&n.api, "incident", "Active", "False")
            && n.api
                .boost(NS, "incident")
                .and_then(|b| b.status)
                .is_some_and(|s| s.active_pods == 0 && s.nodes.is_empty())
    })
    .await;
    assert!(n.api.event_posted(NS, "redis", "BoostExpired"));
    assert!(n.api.event_posted(NS, "incident", "BoostExpired"));
    // The object stays: the daemon never deletes one.
    assert!(n.api.boost(NS, "incident").is_some());
    assert!(!n.api.requests().iter().any(|c| c.method == "DELETE"));

    let (_, text) = get(addr, "/metrics").await;
    assert_eq!(
        metric(&text, "mus_agent_cpuboost_pods_granted_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "mus_agent_cpuboosts_expired_total"),
        Some(1.0)
    );
    assert_eq!(metric(&text, "mus_agent_cpuboosts_active"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_wins_over_the_annotation_until_it_is_deleted() {
    let n = node().await;
    let pin = n.bpf.pin();
    let _a = redis_annotated_at_2048(&n).await;
    // Two objects select redis: the larger weight wins; web is boosted by name.
    n.api.apply_boost(a_boost(
        NS,
        "small",
        &at(-60),
        json!({"podName": "redis", "weight": 4096, "duration": "1h", "reason": "r"}),
    ));
    n.api.apply_boost(a_boost(
        NS,
        "large",
        &at(0),
        json!({"podName": "redis", "weight": 16384, "duration": "1h", "reason": "r"}),
    ));
    n.api.apply_boost(a_boost(
        NS,
        "web",
        &at(0),
        json!({"selector": {"matchLabels": {"app": "web"}}, "duration": "1h", "reason": "r"}),
    ));
    eventually(
        "the larger object's weight, and web at the default 4096",
        5,
        || entries(&pin) == BTreeMap::from([(n.redis, 16384), (n.web, 4096)]),
    )
    .await;
    n.api.delete_boost(NS, "large");
    redis_at(&pin, n.redis, 4096).await;
    n.api.delete_boost(NS, "small");
    // Back to what its annotation asks.
    redis_at(&pin, n.redis, 2048).await;
    eventually("redis was told", 5, || {
        n.api.event_posted(NS, "redis", "BoostRemoved")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_naming_a_container_boosts_that_containers_cgroup() {
    let n = node().await;
    let pin = n.bpf.pin();
    let app = n.cgroups.container_cgroup(1, "aa01");
    let _a = redis_annotated_at_2048(&n).await;
    n.api.apply_boost(a_boost(
        NS,
        "app-only",
        &at(0),
        json!({"podName": "redis", "container": "app", "weight": 8192, "duration": "1h", "reason": "r"}),
    ));
    // The container's cgroup instead of the pod's: the object wins over the annotation.
    eventually("the container is boosted, the pod no longer", 5, || {
        entries(&pin) == BTreeMap::from([(app, 8192)])
    })
    .await;
    // A container the pod does not have: nothing, and the annotation is not back
    // either (the object still wins; it is told in the log).
    let mut wrong = n.api.boost(NS, "app-only").expect("object");
    wrong.spec.container = Some("sidecar".into());
    n.api.apply_boost(wrong);
    eventually("nothing is boosted", 5, || entries(&pin).is_empty()).await;
}

/// Redis annotated at 2048, and a daemon that has boosted it so.
async fn redis_annotated_at_2048(n: &Node) -> Agent {
    n.api.apply(a_pod(
        1,
        "redis",
        NODE,
        &[(WEIGHT_ANNOTATION, "2048")],
        "aa01",
    ));
    let a = agent(&n.api, &n.bpf, &n.cgroups, |_| {});
    redis_at(&n.bpf.pin(), n.redis, 2048).await;
    a
}

async fn redis_at(pin: &std::path::Path, redis: mus_common::CgroupId, weight: u32) {
    eventually(&format!("redis at {weight}"), 5, || {
        entries(pin).get(&redis) == Some(&weight)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_restores_only_the_boosts_still_in_force() {
    let n = node().await;
    let pin = n.bpf.pin();
    n.api.apply_boost(a_boost(
        NS,
        "short",
        &at(0),
        json!({"podName": "redis", "duration": "3s", "reason": "r"}),
    ));
    n.api.apply_boost(a_boost(
        NS,
        "long",
        &at(0),
        json!({"podName": "web", "weight": 2048, "duration": "1h", "reason": "r"}),
    ));
    let a = agent(&n.api, &n.bpf, &n.cgroups, |_| {});
    eventually("both boosted", 5, || {
        entries(&pin) == BTreeMap::from([(n.redis, 4096), (n.web, 2048)])
    })
    .await;
    // The daemon goes away, its entries stay in the map, and "short" ends meanwhile.
    drop(a);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(entries(&pin).len(), 2, "no daemon, no change");
    let _b = agent(&n.api, &n.bpf, &n.cgroups, |_| {});
    eventually("only the boost in force is back", 5, || {
        entries(&pin) == BTreeMap::from([(n.web, 2048)])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_objects_get_one_sentence_and_change_nothing() {
    let n = node().await;
    let pin = n.bpf.pin();
    let spec = |extra: serde_json::Value| {
        let mut s = json!({"podName": "redis", "duration": "1h", "reason": "r"});
        for (k, v) in extra.as_object().expect("object") {
            s[k] = v.clone();
        }
        s
    };
    let mut elsewhere = a_boost("dev", "elsewhere", &at(0), spec(json!({})));
    elsewhere.metadata.namespace = Some("dev".into());
    n.api.apply_boost(elsewhere);
    n.api.apply_boost(a_boost(
        NS,
        "greedy",
        &at(0),
        spec(json!({"weight": 16384})),
    ));
    let mut past = spec(json!({"until": at(-60)}));
    past.as_object_mut().expect("object").remove("duration");
    n.api.apply_boost(a_boost(NS, "past", &at(0), past));
    n.api.apply_boost(a_boost(
        NS,
        "nobody",
        &at(0),
        json!({"selector": {"matchLabels": {"app": "nobody"}}, "duration": "1h", "reason": "r"}),
    ));
    let _a = agent(&n.api, &n.bpf, &n.cgroups, |o| {
        o.policy = policy(&format!(
            "maxWeight: 8192\nannotations: {{namespaceSelector: {{matchLabels: {{{}: {}}}}}}}\n",
            ALLOWED.0, ALLOWED.1
        ))
    });
    eventually("each refusal is in the status", 5, || {
        condition(&n.api, "greedy", "Refused").is_some_and(|c| {
            c == (
                "True".into(),
                "OverMaxWeight".into(),
                "weight 16384 is above the boost policy's maxWeight 8192".into(),
            )
        }) && condition(&n.api, "past", "Refused").is_some_and(|c| {
            c.1 == "InvalidBoost"
                && c.2.starts_with("spec.until ")
                && c.2.contains("the boost would end before it begins")
        })
    })
    .await;
    let dev = |t| {
        n.api
            .boost("dev", "elsewhere")
            .and_then(|b| b.status)
            .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == t))
    };
    eventually("the namespace refusal too", 5, || {
        dev("Refused").is_some_and(|c| {
            c.reason == "NamespaceNotSelected"
                && c.message == "CPUBoost objects are honoured only in namespaces the boost policy selects, and namespace dev is not one; ask a cluster admin"
        })
    })
    .await;
    // A selector that matches nothing is accepted (pods may come), and not active.
    eventually("nobody is selected", 5, || {
        is(&n.api, "nobody", "Accepted", "True")
            && condition(&n.api, "nobody", "Active").is_some_and(|c| {
                c.0 == "False" && c.2 == "selects no running pod on a node where mus runs"
            })
    })
    .await;
    assert!(
        n.api
            .event_with(NS, "greedy", "BoostRefused", "above the boost policy")
    );
    assert!(entries(&pin).is_empty(), "nothing is boosted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_applies_its_own_item_and_writes_nothing_already_there() {
    let n = node().await;
    n.api.apply_boost(a_boost(NS, "both", &at(0), json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["redis", "web"]}]}, "duration": "1h", "reason": "r"})));
    let _a = agent(&n.api, &n.bpf, &n.cgroups, |_| {});
    eventually("two pods active", 5, || {
        n.api
            .boost(NS, "both")
            .and_then(|b| b.status)
            .is_some_and(|s| s.active_pods == 2)
    })
    .await;
    // One grant Event on the object per pod, each with its own pod in its note.
    for pod in ["redis", "web"] {
        let note = format!("boosting pod {NS}/{pod} at weight 4096");
        eventually(&note, 5, || {
            n.api.event_with(NS, "both", "BoostGranted", &note)
        })
        .await;
    }
    let patches = n.api.status_patches("both");
    let first = &patches[0];
    assert_eq!(
        first.param("fieldManager").as_deref(),
        Some("mus-agent/node-a")
    );
    assert_eq!(first.param("force").as_deref(), Some("true"));
    let body: serde_json::Value = serde_json::from_str(&first.body).expect("json");
    assert_eq!(body["kind"], "CPUBoost");
    assert_eq!(
        body["status"]["nodes"],
        json!([{"node": "node-a", "pods": 2, "weight": 4096}])
    );
    // Another node's agent writes its item: this one keeps it and counts it in
    // the totals, without applying it as its own.
    let mut theirs = n
        .api
        .boost(NS, "both")
        .and_then(|b| b.status)
        .expect("status");
    theirs.nodes = vec![NodeBoost {
        node: "node-b".into(),
        pods: 3,
        weight: 4096,
        auto_problem: None,
    }];
    n.api
        .apply_boost_status("mus-agent/node-b", NS, "both", &theirs);
    eventually("the totals count node-b", 5, || {
        n.api
            .boost(NS, "both")
            .and_then(|b| b.status)
            .is_some_and(|s| s.active_pods == 5 && s.active_nodes == 2)
    })
    .await;
    let last = n.api.status_patches("both").last().cloned().expect("patch");
    let body: serde_json::Value = serde_json::from_str(&last.body).expect("json");
    assert_eq!(
        body["status"]["nodes"],
        json!([{"node": "node-a", "pods": 2, "weight": 4096}])
    );
    assert_eq!(body["status"]["activePods"], 5);
    // Settled: passes (a resync, an unrelated change) write nothing more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = n.api.status_patches("both").len();
    n.api.apply(a_pod(3, "other", NODE, &[], "cc01"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        n.api.status_patches("both").len(),
        settled,
        "no status rewritten unchanged"
    );
}
