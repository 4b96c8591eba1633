//! What the daemon serves on /metrics, /healthz and /readyz: its own figures (with
//! a full map), and the scheduler's counters while mus-runner has them pinned.

use std::sync::atomic::Ordering;
use std::time::Instant;

use libbpf_rs::{MapCore, MapFlags};
use mus_agent::daemon::annotations::WEIGHT_ANNOTATION;
use mus_common::CgroupId;
use mus_common::stats::NR_STATS;

use crate::common::bpffs::BpfFs;
use crate::common::endpoint::get;
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
