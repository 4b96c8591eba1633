//! Only what the boost policy grants is boosted: PriorityClasses, annotations in
//! the namespaces it selects, under its maximum weight and node caps; every refusal
//! is counted by reason and published as an Event on the pod.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use mus_agent::daemon::grant::annotations::{BOOST_ANNOTATION, WEIGHT_ANNOTATION};
use mus_agent::daemon::grant::policy::Policy;
use mus_agent::pod::MIRROR_ANNOTATION;
use mus_common::{CgroupId, OwnerId, PrioFlags, PrioMap, Weight};

use crate::common::a_namespace;
use crate::common::bpffs::BpfFs;
use crate::common::endpoint::get;
use crate::fixtures::*;

/// `p`, changed by `f` (a namespace, a priority class, requests, an age).
fn shaped(mut p: Pod, f: impl FnOnce(&mut Pod)) -> Pod {
    f(&mut p);
    p
}

fn created(p: &mut Pod, at: &str) {
    p.metadata.creation_timestamp =
        Some(serde_json::from_value(serde_json::json!(at)).expect("time"));
}

/// CPU `resources` of a container: a request of 1m (which bounds nothing) and the
/// limit `limit`, if any.
fn cpu(limit: Option<&str>) -> Option<ResourceRequirements> {
    let cpu = |q: &str| Some(BTreeMap::from([("cpu".to_string(), Quantity(q.into()))]));
    Some(ResourceRequirements {
        requests: cpu("1m"),
        limits: limit.and_then(cpu),
        ..Default::default()
    })
}

/// A sidecar (a restartable init container, in the pod's cgroup) with CPU `limit`.
fn with_sidecar(p: &mut Pod, limit: &str) {
    p.spec.as_mut().expect("spec").init_containers = Some(vec![Container {
        name: "proxy".into(),
        restart_policy: Some("Always".into()),
        resources: cpu(Some(limit)),
        ..Default::default()
    }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_the_policy_grants_is_boosted_and_refusals_are_reported() {
    let api = cluster().await;
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
        api.event_posted("dev", "sneaky", "BoostRefused")
            && api.event_posted(NS, "greedy", "BoostRefused")
            && api.event_posted(NS, "late", "BoostRefused")
            && api.event_posted("dev", "classy", "BoostRefused")
    })
    .await;
    // Each told why: the class's pod about the class, not about annotations.
    assert!(api.event_posted(
        "dev",
        "classy",
        "PriorityClass latency-critical grants a boost only in namespaces"
    ));
    assert!(api.event_posted(
        "dev",
        "sneaky",
        "boost annotations are honoured only in namespaces"
    ));
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
            .any(|l| l == "mus_agent_boosts_refused{reason=\"namespace_not_selected\"} 2"),
        "{text}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_policy_nothing_is_boosted_and_old_boosts_go() {
    let api = cluster().await;
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
        api.event_posted(NS, "redis", "BoostRefused") || {
            tokio::time::sleep(Duration::from_secs(1)).await;
            api.event_posted(NS, "redis", "BoostRefused")
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cpu_cap_counts_what_pods_can_take_and_one_namespace_gets_its_share() {
    let api = cluster().await;
    api.add_namespace(a_namespace("other", &[ALLOWED]));
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let ids: Vec<CgroupId> = (1..=7).map(|n| node.pod_cgroup(n)).collect();
    let b = (BOOST_ANNOTATION, "true");
    // The node has 2 CPUs: half is 1000m. a (600m) and b (200m and its 100m
    // sidecar) fit; c requests 1m with no limit, so it could take every CPU; d's
    // 300m would pass the cap; e fits, the third pod of its namespace; f is
    // another namespace's, and fits; g would be the fourth of the first namespace.
    for (n, name, limit, sidecar, namespace) in [
        (1, "a", Some("600m"), None, NS),
        (2, "b", Some("0.2"), Some("100m"), NS),
        (3, "c", None, None, NS),
        (4, "d", Some("300m"), None, NS),
        (5, "e", Some("10m"), None, NS),
        (6, "f", Some("50m"), None, "other"),
        (7, "g", Some("10m"), None, NS),
    ] {
        api.apply(shaped(a_pod(n, name, NODE, &[b], "aa01"), |p| {
            created(p, &format!("2026-01-0{n}T00:00:00Z"));
            p.metadata.namespace = Some(namespace.into());
            p.spec.as_mut().expect("spec").containers[0].resources = cpu(limit);
            if let Some(l) = sidecar {
                with_sidecar(p, l);
            }
        }));
    }
    let a = agent(&api, &bpf, &node, |o| {
        o.policy = policy(&format!(
            "annotations: {{namespaceSelector: {{matchLabels: {{{}: {}}}}}}}
nodeCap: {{maxCpuLimitFraction: 0.5, maxPodsPerNamespace: 3}}
",
            ALLOWED.0, ALLOWED.1
        ))
    });
    let pin = bpf.pin();
    eventually("a, b, e and f fit under the caps", 10, || {
        entries(&pin)
            == [0, 1, 4, 5]
                .into_iter()
                .map(|i| (ids[i], 4096))
                .collect::<BTreeMap<_, _>>()
    })
    .await;
    eventually("the rest are refused, each with its reason", 10, || {
        refused(&a)
            == counts(&[
                ("namespace_max_pods", 1),
                ("no_cpu_limit", 1),
                ("node_cpu_fraction", 1),
            ])
    })
    .await;
    eventually("c is told it needs a CPU limit", 10, || {
        api.event_posted(NS, "c", "container app has no CPU limit")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_pod_is_boosted_through_its_mirror_pod() {
    let api = cluster().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    // The kubelet names a static pod's cgroup after its hash of the manifest; the
    // API server's mirror pod has a UID of its own and the hash in an annotation.
    let hash = "6a3f1c9e0b2d4f5a8c7e9d1b3a5f7c2e";
    let etcd = node.uid_cgroup(hash, 1_000_000);
    node.pod_cgroup(1);
    api.apply(a_pod(
        1,
        "etcd-node-a",
        NODE,
        &[(BOOST_ANNOTATION, "true"), (MIRROR_ANNOTATION, hash)],
        "aa01",
    ));
    let _a = agent(&api, &bpf, &node, |_| {});
    let pin = bpf.pin();
    eventually("the static pod's cgroup is boosted", 10, || {
        entries(&pin) == BTreeMap::from([(etcd, 4096)])
    })
    .await;
}
