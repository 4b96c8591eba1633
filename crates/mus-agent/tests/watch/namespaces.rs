//! The daemon watches only the namespaces its policy selects, by asking the API
//! server for them: a namespace outside the selection costs it nothing, not even a
//! pass when it changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use mus_agent::daemon::grant::annotations::BOOST_ANNOTATION;

use crate::common::a_namespace;
use crate::common::bpffs::BpfFs;
use crate::common::cluster::Cluster;
use crate::fixtures::*;

/// The label selectors of the namespace LISTs and WATCHes so far (`""`: none).
fn namespace_selectors(api: &Cluster) -> BTreeSet<String> {
    api.requests()
        .iter()
        .filter(|c| c.path == "/api/v1/namespaces")
        .map(|c| c.param("labelSelector").unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_outside_the_selector_are_not_listed_and_wake_nothing() {
    // Bind every field: a `..` would drop the cgroup tree and the bpffs mount here.
    let RedisBoosted {
        agent: a,
        pin,
        redis: _,
        web: _,
        _map,
        _node,
        _bpf,
        api,
    } = redis_boosted_web_plain().await;
    eventually("the namespaces are watched", 5, || {
        api.requests()
            .iter()
            .any(|c| c.path == "/api/v1/namespaces" && c.is_watch())
    })
    .await;
    assert_eq!(
        namespace_selectors(&api),
        BTreeSet::from([format!("{}={}", ALLOWED.0, ALLOWED.1)]),
        "every namespace LIST and WATCH carries the policy's selector"
    );

    // Namespaces the policy does not select come and change: no pass.
    let runs = a.metrics.reconcile_runs.load(Ordering::Relaxed);
    for i in 0..50 {
        api.add_namespace(a_namespace(&format!("team-{i}"), &[("tier", "batch")]));
    }
    api.add_namespace(a_namespace("dev", &[("tier", "web")]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        a.metrics.reconcile_runs.load(Ordering::Relaxed),
        runs,
        "a change outside the selection runs no pass"
    );

    // The selected namespace loses its label: it leaves the selection, and its
    // pods their boost.
    api.add_namespace(a_namespace(NS, &[]));
    eventually("redis is unboosted", 10, || entries(&pin).is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_selectors_watch_their_namespaces_each_and_grant_their_own_route() {
    let api = cluster().await;
    api.add_namespace(a_namespace("web", &[("tier", "web")]));
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(4096);
    let node = Cgroups::new();
    let (redis, classy, sneaky) = (node.pod_cgroup(1), node.pod_cgroup(2), node.pod_cgroup(3));
    api.apply(redis_pod("4096"));
    // The class in "web", which only the class selector selects: granted.
    let mut p = a_pod(2, "classy", NODE, &[], "bb01");
    p.metadata.namespace = Some("web".into());
    p.spec.as_mut().expect("spec").priority_class_name = Some("latency-critical".into());
    api.apply(p);
    // An annotation in "web", which the annotation selector does not select: refused.
    let mut p = a_pod(3, "sneaky", NODE, &[(BOOST_ANNOTATION, "true")], "cc01");
    p.metadata.namespace = Some("web".into());
    api.apply(p);
    let a = agent(&api, &bpf, &node, |o| {
        o.policy = policy(&format!(
            "maxWeight: 8192
priorityClasses: {{latency-critical: 8192}}
classNamespaceSelector: {{matchLabels: {{tier: web}}}}
annotations: {{namespaceSelector: {{matchLabels: {{{}: {}}}}}}}
",
            ALLOWED.0, ALLOWED.1
        ))
    });
    let pin = bpf.pin();
    eventually("redis and classy are boosted", 10, || {
        entries(&pin) == BTreeMap::from([(redis, 4096), (classy, 8192)])
    })
    .await;
    eventually("sneaky is refused", 10, || {
        refused(&a) == counts(&[("namespace_not_selected", 1)])
    })
    .await;
    assert!(!entries(&pin).contains_key(&sneaky));
    assert_eq!(
        namespace_selectors(&api),
        BTreeSet::from([format!("{}={}", ALLOWED.0, ALLOWED.1), "tier=web".into()])
    );
}
