//! The map follows the cluster: annotations added, changed and removed, pods
//! deleted or moved away, container restarts ignored; and it converges again after
//! the agent, the API server (an expired watch, an outage) or the runner restart.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mus_agent::daemon::grant::annotations::{BOOST_ANNOTATION, WEIGHT_ANNOTATION};
use mus_common::{PrioMap, Weight};

use crate::common::bpffs::BpfFs;
use crate::fixtures::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_follows_annotations_deletes_moves_and_ignores_restarts() {
    let api = cluster().await;
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
        api.event_posted(NS, "bad", "InvalidBoostAnnotation")
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
            .filter(|c| c.method == "GET" && c.path.starts_with("/api/v1/pods"))
            .all(|c| c.param("fieldSelector").as_deref() == Some("spec.nodeName=node-a")),
        "every LIST and WATCH carries the node's field selector: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_removes_its_entries_that_pods_stopped_asking_for() {
    let api = cluster().await;
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
    // Bind every field: a `..` would drop the cgroup tree and the bpffs mount here.
    let RedisBoosted {
        agent: a,
        pin,
        redis,
        web: _,
        _map: map,
        _node,
        _bpf: bpf,
        api: _api,
    } = redis_boosted_web_plain().await;
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
    let api = cluster().await;
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
