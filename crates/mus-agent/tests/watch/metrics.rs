//! What the daemon serves on /metrics, /healthz and /readyz: its own figures (with
//! a full map), and the scheduler's counters while mus-runner has them pinned.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hyper::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use libbpf_rs::{MapCore, MapFlags};
use mus_agent::daemon::grant::annotations::WEIGHT_ANNOTATION;
use mus_common::CgroupId;
use mus_common::stats::NR_STATS;

use crate::common::bpffs::BpfFs;
use crate::common::endpoint::get;
use crate::common::{FakeApi, QuietWatches, Reply, a_node, list, pod_list};
use crate::fixtures::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_map_keeps_the_rest_and_metrics_are_served() {
    let api = cluster().await;
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
    let api = cluster().await;
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

/// The value of the series `name{labels}` in a /metrics text.
fn labelled(text: &str, name: &str, labels: &str) -> Option<f64> {
    metric(text, &format!("{name}{{{labels}}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_namespace_list_is_counted_and_named_by_readyz() {
    // The API server lists this node's pods and its Node, but refuses the
    // namespaces (say RBAC lost the ClusterRole's namespaces rule).
    let watches = QuietWatches::default();
    let api = FakeApi::start(move |call| {
        if call.is_watch() {
            watches.open()
        } else if call.path.starts_with("/api/v1/namespaces") {
            let status = Status {
                status: Some("Failure".into()),
                code: Some(403),
                reason: Some("Forbidden".into()),
                message: Some("namespaces is forbidden: cannot list namespaces".into()),
                ..Default::default()
            };
            Reply::Json(
                StatusCode::FORBIDDEN,
                serde_json::to_string(&status).expect("json"),
            )
        } else if call.path.starts_with("/api/v1/nodes") {
            Reply::Json(StatusCode::OK, list(vec![a_node(NODE, "2", "")]))
        } else {
            Reply::Json(StatusCode::OK, pod_list(vec![]))
        }
    })
    .await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(16);
    let node = Cgroups::new();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let a = agent_on(api.client(), &bpf, &node, |_| {});
    let (addr, server) = serve(&a.metrics).await;
    let failures = "mus_agent_api_list_failures_total";
    let mut text = String::new();
    for _ in 0..100 {
        text = get(addr, "/metrics").await.1;
        if labelled(&text, failures, "resource=\"namespaces\"").is_some_and(|n| n >= 2.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        labelled(&text, failures, "resource=\"namespaces\"").is_some_and(|n| n >= 2.0),
        "the refused lists are counted:\n{text}"
    );
    assert_eq!(
        labelled(&text, failures, "resource=\"pods\""),
        Some(0.0),
        "{text}"
    );
    // The pods and the Node were listed, and when; the namespaces never were.
    let listed = "mus_agent_api_last_list_timestamp_seconds";
    for resource in ["pods", "node"] {
        let at = labelled(&text, listed, &format!("resource=\"{resource}\""))
            .unwrap_or_else(|| panic!("no list time of {resource}:\n{text}"));
        assert!(
            at >= before.floor() && at < before + 60.0,
            "{resource}: {at}"
        );
    }
    assert_eq!(
        labelled(&text, listed, "resource=\"namespaces\""),
        None,
        "{text}"
    );

    // /readyz names the list that is missing, and why, rather than the pods.
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("no reconcile has finished yet: waiting for the list of namespaces (")
            && body.contains("namespaces is forbidden")
            && !body.contains("pods"),
        "{body}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_keep_their_names_and_the_map_count_goes_with_the_map() {
    let api = cluster().await;
    let bpf = BpfFs::mount();
    let map = bpf.create_map(16);
    let node = Cgroups::new();
    let redis = node.pod_cgroup(1);
    api.apply(redis_pod("4096"));
    let a = agent(&api, &bpf, &node, |_| {});
    redis_alone_boosted(&bpf.pin(), redis).await;
    let (addr, server) = serve(&a.metrics).await;
    let (_, text) = get(addr, "/metrics").await;
    // One series per pod, labelled by the pod alone.
    assert!(
        text.lines()
            .any(|l| l.starts_with("mus_agent_boosted_weight{namespace=\"shop\",pod=\"redis\"} ")),
        "{text}"
    );
    assert!(!text.contains("cgroup_id"), "{text}");
    // Every refusal reason is a series, at 0 while no pod is refused: a gauge,
    // named as one.
    assert!(
        text.lines()
            .any(|l| l == "# TYPE mus_agent_boosts_refused gauge"),
        "{text}"
    );
    for reason in ["namespace_not_selected", "over_max_weight", "held_by_other"] {
        assert_eq!(
            labelled(
                &text,
                "mus_agent_boosts_refused",
                &format!("reason=\"{reason}\"")
            ),
            Some(0.0),
            "{reason} in\n{text}"
        );
    }
    assert_eq!(metric(&text, "mus_agent_map_entries"), Some(1.0), "{text}");

    // The runner stops: the map's count is no longer known, rather than kept.
    bpf.unpin(map);
    eventually("the map is closed", 5, || !a.metrics.map_open()).await;
    let (_, text) = get(addr, "/metrics").await;
    assert_eq!(metric(&text, "mus_agent_map_open"), Some(0.0), "{text}");
    assert_eq!(metric(&text, "mus_agent_map_entries"), None, "{text}");
    server.abort();
}
