//! An API server that fails the LIST of pods, in each way it can, is asked less
//! and less often until it answers; one that never answers is asked again after
//! the client's deadline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::StatusCode;
use tokio::sync::mpsc;

use crate::common::bpffs::BpfFs;
use crate::common::{Call, Reply, forbidden};
use crate::fixtures::*;

fn a_pod_list(call: &Call) -> bool {
    call.method == "GET" && call.path == "/api/v1/pods" && !call.is_watch()
}

/// The gaps between the LISTs of pods the daemon makes in 12.5 s against an API
/// server that answers each with `failure`.
async fn gaps_between_failed_lists(failure: fn() -> Reply) -> Vec<Duration> {
    let api = cluster_with(move |call| a_pod_list(call).then(failure)).await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let _agent = agent(&api, &bpf, &node, |_| {});
    tokio::time::sleep(Duration::from_millis(12_500)).await;
    let lists = api.lists_of("/api/v1/pods");
    lists.windows(2).map(|w| w[1].at - w[0].at).collect()
}

/// Each gap longer than the one before, where kube's own backoff, reset before
/// every LIST, kept them all between 0.8 and 1.6 s: about 10 LISTs in 12.5 s.
async fn assert_lists_back_off(failure: fn() -> Reply) {
    let gaps = gaps_between_failed_lists(failure).await;
    assert!(
        (3..=4).contains(&gaps.len()),
        "0.8 s doubling to 30 s, with jitter, leaves room for 4 or 5 LISTs in 12.5 s: {gaps:?}"
    );
    for pair in gaps.windows(2) {
        assert!(
            pair[1].as_secs_f64() > pair[0].as_secs_f64() * 0.95,
            "each gap grows: {gaps:?}"
        );
    }
    assert!(
        gaps[2] > gaps[0] * 2 - Duration::from_millis(100),
        "{gaps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_answered_with_http_500_are_retried_less_and_less_often() {
    assert_lists_back_off(|| {
        Reply::Json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcd is unhappy","code":500}"#.into(),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_answered_with_garbage_are_retried_less_and_less_often() {
    assert_lists_back_off(|| Reply::Json(StatusCode::OK, "<html>a captive portal".into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_refused_with_403_are_retried_less_and_less_often() {
    assert_lists_back_off(|| Reply::Json(StatusCode::FORBIDDEN, forbidden("list"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_list_times_out_and_is_retried() {
    // The first LIST of pods is never answered; the second gets its headers and no
    // body; the third is the cluster's.
    let seen = Arc::new(AtomicUsize::new(0));
    let open_bodies = Arc::new(Mutex::new(Vec::<mpsc::UnboundedSender<String>>::new()));
    let bodies = Arc::clone(&open_bodies);
    let api = cluster_with(move |call| {
        if !a_pod_list(call) {
            return None;
        }
        match seen.fetch_add(1, Ordering::SeqCst) {
            0 => Some(Reply::Hang),
            1 => {
                let (tx, rx) = mpsc::unbounded_channel();
                bodies.lock().expect("bodies").push(tx);
                Some(Reply::Stream(rx))
            }
            _ => None,
        }
    })
    .await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let redis = node.pod_cgroup(1);
    api.apply(redis_pod("4096"));
    let client = api.client_with_deadline(Duration::from_secs(1));
    let _agent = agent_on(client, &bpf, &node, |_| {});
    let pin = bpf.pin();
    eventually("redis is boosted after two hung LISTs", 15, || {
        entries(&pin) == BTreeMap::from([(redis, 4096)])
    })
    .await;
    assert_eq!(api.lists(), 3, "two LISTs timed out, the third answered");
    assert_eq!(open_bodies.lock().expect("bodies").len(), 1);
}
