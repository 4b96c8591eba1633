//! A CPUBoost's status items of nodes that no longer exist: the agents remove them,
//! and only them, from a complete list of the Nodes, so that the totals stop
//! counting a node that is gone; a list that fails or stops halfway removes
//! nothing, and a removal from an outdated read, or by two agents at once, removes
//! nothing it should not and stops no agent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::StatusCode;
use k8s_openapi::jiff::Timestamp;
use mus_agent::cpuboost::{CPUBoostStatus, NodeBoost};
use mus_agent::daemon::report::stale_nodes::{Pruned, prune};
use serde_json::json;

use crate::common::bpffs::BpfFs;
use crate::common::cluster::Cluster;
use crate::common::{Call, Reply, a_boost, a_node};
use crate::fixtures::*;

/// The object every test here reads.
const BOOST: &str = "incident";

/// `node`'s item, as its agent writes it.
fn item(node: &str, pods: u32) -> NodeBoost {
    serde_json::from_value(json!({"node": node, "pods": pods, "weight": 4096})).expect("an item")
}

/// The nodes named in the object's status, in order.
fn nodes(api: &Cluster) -> Vec<String> {
    api.boost(NS, BOOST)
        .and_then(|b| b.status)
        .map(|s| s.nodes.into_iter().map(|n| n.node).collect())
        .unwrap_or_default()
}

/// The JSON patches of the object's status so far (the agents' applies are objects).
fn json_patches(api: &Cluster) -> Vec<Call> {
    api.status_patches(BOOST)
        .into_iter()
        .filter(|c| c.body.starts_with('['))
        .collect()
}

/// Whether `call` is a LIST of every Node (the agent's own Node is listed by name).
fn lists_every_node(call: &Call) -> bool {
    call.method == "GET"
        && call.path == "/api/v1/nodes"
        && !call.is_watch()
        && call.param("fieldSelector").is_none()
}

/// Redis on this node, selected by object [`BOOST`], whose status has the items of
/// node-b (a Node) and node-gone (none: deleted with its agent); the cluster answers
/// `first`'s answer first. Fields drop in order: the map before its bpffs.
struct Gone {
    api: Cluster,
    _map: libbpf_rs::MapHandle,
    bpf: BpfFs,
    cgroups: Cgroups,
}

async fn node_gone(first: impl Fn(&Call) -> Option<Reply> + Send + Sync + 'static) -> Gone {
    let api = cluster_with(first).await;
    api.add_node(a_node("node-b", "2", "another-boot"));
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let cgroups = Cgroups::new();
    cgroups.pod_cgroup(1);
    api.apply(a_pod(1, "redis", NODE, &[], "aa01"));
    api.apply_boost(a_boost(
        NS,
        BOOST,
        &Timestamp::now().to_string(),
        json!({"podName": "redis", "duration": "1h", "reason": "r"}),
    ));
    for (node, pods) in [("node-b", 2), ("node-gone", 3)] {
        let status = CPUBoostStatus {
            nodes: vec![item(node, pods)],
            ..Default::default()
        };
        api.apply_boost_status(&format!("mus-agent/{node}"), NS, BOOST, &status);
    }
    Gone {
        api,
        _map,
        bpf,
        cgroups,
    }
}

/// An agent on [`NODE`] that prunes every 200 ms.
fn pruning_agent(g: &Gone) -> Agent {
    agent(&g.api, &g.bpf, &g.cgroups, |o| {
        o.prune_interval = Duration::from_millis(200)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_nodes_item_goes_and_the_totals_stop_counting_it() {
    let g = node_gone(|_| None).await;
    let _a = pruning_agent(&g);
    eventually("node-gone's item is removed, the others stay", 10, || {
        nodes(&g.api) == [NODE, "node-b"]
    })
    .await;
    // The next pass counts what is left: redis here and node-b's 2.
    eventually("the totals and Active follow", 5, || {
        g.api
            .boost(NS, BOOST)
            .and_then(|b| b.status)
            .is_some_and(|s| {
                (s.active_pods, s.active_nodes) == (3, 2)
                    && s.conditions.iter().any(|c| {
                        c.type_ == "Active"
                            && c.message == "boosting 3 pod(s) on 2 node(s) at weight 4096"
                    })
            })
    })
    .await;
    // One JSON patch, that tested the item before removing it, and named no live node.
    let patches = json_patches(&g.api);
    assert_eq!(patches.len(), 1, "{patches:?}");
    let ops: serde_json::Value = serde_json::from_str(&patches[0].body).expect("json");
    assert_eq!(ops[0]["op"], "test");
    assert_eq!(ops[0]["value"], "node-gone");
    assert_eq!(ops[1]["op"], "remove");
    assert_eq!(
        patches[0].param("fieldManager").as_deref(),
        Some("mus-agent/node-a")
    );
    // Settled: later rounds find nothing to remove.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(json_patches(&g.api).len(), 1);
    assert_eq!(nodes(&g.api), [NODE, "node-b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_goes_while_the_nodes_cannot_be_listed_whole() {
    // Every other LIST fails outright; the others answer a first page (this node
    // only) whose next page is refused: the token expired (410), as after a long pause.
    let lists = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&lists);
    let g = node_gone(move |call| {
        if !lists_every_node(call) {
            return None;
        }
        if call.param("continue").is_some() {
            return Some(Reply::Json(
                StatusCode::GONE,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "code": 410, "reason": "Expired",
                       "message": "the provided continue parameter is too old"})
                .to_string(),
            ));
        }
        if counted.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            return Some(Reply::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "code": 500, "message": "etcdserver: request timed out"})
                .to_string(),
            ));
        }
        Some(Reply::Json(
            StatusCode::OK,
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"resourceVersion": "7", "continue": "next-page"},
                   "items": [{"metadata": {"name": NODE}}]})
            .to_string(),
        ))
    })
    .await;
    let a = pruning_agent(&g);
    eventually("several rounds, half of them stopped halfway", 10, || {
        lists.load(Ordering::SeqCst) >= 4
            && g.api
                .requests()
                .iter()
                .any(|c| lists_every_node(c) && c.param("continue").is_some())
    })
    .await;
    // The agent's own passes went on, counting every item it cannot disprove.
    eventually("the status counts all three nodes", 5, || {
        g.api
            .boost(NS, BOOST)
            .and_then(|b| b.status)
            .is_some_and(|s| (s.active_pods, s.active_nodes) == (6, 3))
    })
    .await;
    assert_eq!(nodes(&g.api), [NODE, "node-b", "node-gone"]);
    assert!(json_patches(&g.api).is_empty());
    assert!(!a.task.is_finished(), "the daemon still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_race_is_left_to_the_next_round() {
    // The first removal is refused as if another writer had got there first.
    let refused = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&refused);
    let g = node_gone(move |call| {
        let json_patch = call.method == "PATCH" && call.body.starts_with('[');
        (json_patch && count.fetch_add(1, Ordering::SeqCst) == 0).then(|| {
            Reply::Json(
                StatusCode::CONFLICT,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "code": 409, "reason": "Conflict",
                       "message": "the object has been modified; please apply your changes to the latest version and try again"})
                .to_string(),
            )
        })
    })
    .await;
    let a = pruning_agent(&g);
    eventually("a later round removes node-gone's item", 10, || {
        nodes(&g.api) == [NODE, "node-b"]
    })
    .await;
    assert_eq!(json_patches(&g.api).len(), 2, "refused once, then done");
    assert!(!a.task.is_finished(), "the daemon still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_or_two_agents_at_once_remove_nothing_else() {
    let g = node_gone(|_| None).await;
    let read = || [Arc::new(g.api.boost(NS, BOOST).expect("object"))];
    // Read with node-gone's item second; then this node's item comes first, and the
    // second item is node-b's: the test op refuses the removal (422), node-b stays.
    let stale = read();
    let mine = CPUBoostStatus {
        nodes: vec![item(NODE, 1)],
        ..Default::default()
    };
    g.api
        .apply_boost_status("mus-agent/node-a", NS, BOOST, &mine);
    let round = prune(g.api.client(), NODE, &stale).await.expect("a round");
    assert_eq!(
        round,
        Pruned {
            removed: 0,
            raced: 1
        }
    );
    assert_eq!(nodes(&g.api), [NODE, "node-b", "node-gone"]);
    // Two agents read the object before either patches: one removes the item, the
    // other's test finds none at its index, and the API server says 422.
    let fresh = read();
    let (first, second) = tokio::join!(
        prune(g.api.client(), NODE, &fresh),
        prune(g.api.client(), "node-b", &fresh),
    );
    let mut rounds = [first.expect("a round"), second.expect("a round")];
    rounds.sort_by_key(|p| p.removed);
    assert_eq!(
        rounds,
        [
            Pruned {
                removed: 0,
                raced: 1
            },
            Pruned {
                removed: 1,
                raced: 0
            },
        ]
    );
    assert_eq!(nodes(&g.api), [NODE, "node-b"]);
}
