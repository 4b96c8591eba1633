//! Whose entry is whose: the daemon, the CLI and another node's daemon never
//! remove or rewrite each other's entries (every write a compare-and-swap), and a
//! daemon told the wrong node name stops rather than act on another node's pods.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mus_agent::boost::{self, BoostError};
use mus_agent::daemon::grant::annotations::WEIGHT_ANNOTATION;
use mus_agent::daemon::watch::WatchError;
use mus_common::{CgroupId, Entry, OwnerId, PrioFlags, PrioMap, Swap, Weight};

use crate::common::a_node;
use crate::common::bpffs::BpfFs;
use crate::fixtures::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_and_the_cli_never_remove_or_rewrite_each_others_entries() {
    let api = cluster().await;
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
            && api.event_posted(NS, "web", "BoostHeldByOther")
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
    let api = cluster().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let redis = node.pod_cgroup(1);
    api.add_node(a_node("node-b", "2", "another-boot-id"));
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

#[test]
fn in_a_full_map_a_failed_compare_and_swap_keeps_the_other_writers_entry() {
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(8);
    let map = PrioMap::open(&bpf.pin()).expect("open");
    let w = |v| Weight::new(v).expect("w");
    // A full map; the CLI re-wrote cgroup 1 since the daemon read its own entry.
    for id in 1..=8 {
        map.set(CgroupId(id), w(2048)).expect("set");
    }
    let ours = PrioFlags::watch_by(OwnerId::of_node(NODE));
    let stale = Entry {
        cgroup: CgroupId(1),
        weight: 4096,
        flags: ours.bits(),
    };
    // Another writer keeps trying to add cgroups: any slot that frees up is its.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let grabber = {
        let (pin, stop) = (bpf.pin(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let map = PrioMap::open(&pin).expect("open");
            let mut id = 1000;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                if map.set(CgroupId(id), Weight::NORMAL).is_ok() {
                    // Gone again at once, so that the map is full for the next try.
                    let _ = map.remove(CgroupId(id));
                }
            }
        })
    };
    let mut outcomes = Vec::new();
    for _ in 0..20_000 {
        let outcome = map.compare_and_swap(CgroupId(1), Some(stale), None);
        let kept = map.get(CgroupId(1)).expect("get");
        if kept.is_none_or(|e| e.weight != 2048) {
            outcomes.push(format!("{outcome:?}"));
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    grabber.join().expect("join");
    assert!(
        outcomes.is_empty(),
        "the CLI's entry on cgroup 1 was dropped: {outcomes:?}"
    );
}
