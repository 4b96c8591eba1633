//! Discovery against a fake API server speaking real Kubernetes JSON.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Call, FakeApi, PodSpecOf, Reply, State, event, forbidden, pod, pod_list};
use hyper::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;
use mus_agent::kube::discovery::{self, Discovery, DiscoveryError, KubeOptions, LiveView};
use mus_agent::pod::{ContainerState, QosClass};
use tokio::sync::mpsc;

const NODE: &str = "node-a";

fn cluster() -> Vec<k8s_openapi::api::core::v1::Pod> {
    vec![
        pod(PodSpecOf {
            namespace: "shop",
            name: "cart",
            uid: "11111111-1111-1111-1111-111111111111",
            node: NODE,
            qos: "Burstable",
            phase: "Running",
            containers: vec![
                ("app", "containerd://aaa111", State::Running),
                ("sidecar", "containerd://bbb222", State::Waiting),
                ("init-done", "containerd://ccc333", State::Terminated),
                ("fresh", "", State::NoStatus),
            ],
        }),
        pod(PodSpecOf {
            namespace: "kube-system",
            name: "dns",
            uid: "22222222-2222-2222-2222-222222222222",
            node: NODE,
            qos: "Guaranteed",
            phase: "Running",
            containers: vec![("coredns", "cri-o://ddd444", State::Running)],
        }),
        pod(PodSpecOf {
            namespace: "shop",
            name: "elsewhere",
            uid: "33333333-3333-3333-3333-333333333333",
            node: "node-b",
            qos: "BestEffort",
            phase: "Running",
            containers: vec![("app", "containerd://eee555", State::Running)],
        }),
    ]
}

/// Serves LIST like the API server does: filtered by the field selector it is given.
fn filtering_server(call: &Call) -> Reply {
    let selector = call.param("fieldSelector").unwrap_or_default();
    let items = cluster()
        .into_iter()
        .filter(|p| {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            selector.is_empty() || selector == format!("spec.nodeName={node}")
        })
        .collect();
    Reply::Json(StatusCode::OK, pod_list(items))
}

#[tokio::test]
async fn list_sends_the_node_selector_and_reads_every_namespace() {
    let api = FakeApi::start(|call| {
        assert_eq!(call.path, "/api/v1/pods", "all namespaces, not one");
        filtering_server(call)
    })
    .await;
    let discovery = Discovery::new(api.config(), NODE.into()).expect("discovery");
    let rows = discovery.list().await.expect("list");

    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].param("fieldSelector").as_deref(),
        Some("spec.nodeName=node-a"),
        "{requests:?}"
    );

    let names: Vec<String> = rows.iter().map(|r| r.target()).collect();
    assert_eq!(
        names,
        [
            "kube-system/dns/coredns",
            "shop/cart/app",
            "shop/cart/sidecar",
            "shop/cart/init-done",
            "shop/cart/fresh"
        ],
        "sorted by namespace then pod, spec order within a pod; node-b's pod absent"
    );
    let dns = &rows[0];
    assert_eq!(dns.qos, Some(QosClass::Guaranteed));
    assert_eq!(dns.pod_uid, "22222222-2222-2222-2222-222222222222");
    let cid = dns.container_id.as_ref().expect("id");
    assert_eq!((cid.runtime.as_str(), cid.id.as_str()), ("cri-o", "ddd444"));

    let states: Vec<&ContainerState> = rows[1..].iter().map(|r| &r.state).collect();
    assert_eq!(
        states,
        [
            &ContainerState::Running,
            &ContainerState::Waiting("CrashLoopBackOff".into()),
            &ContainerState::Terminated("Completed".into()),
            &ContainerState::Unknown,
        ]
    );
    assert_eq!(rows[4].container_id, None, "no status yet, no ID");
    assert_eq!(rows[1].phase, "Running");
    assert_eq!(rows[1].qos, Some(QosClass::Burstable));
}

#[tokio::test]
async fn the_live_view_follows_watch_events() {
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let api = FakeApi::start(move |call| {
        if call.is_watch() {
            // One long-lived watch; a reconnect gets an empty list of events.
            match rx.lock().expect("rx").take() {
                Some(rx) => Reply::Stream(rx),
                None => Reply::Stream(mpsc::unbounded_channel().1),
            }
        } else {
            let only_cart = cluster()
                .into_iter()
                .filter(|p| p.metadata.name.as_deref() == Some("cart"))
                .collect();
            Reply::Json(StatusCode::OK, pod_list(only_cart))
        }
    })
    .await;
    let live = ready_live_view(&api).await;
    assert_eq!(live.rows().len(), 4);

    let mut pods = cluster();
    tx.send(event(WatchEvent::Added(pods.remove(1))))
        .expect("send");
    wait_for(|| live.rows().iter().any(|r| r.pod == "dns")).await;

    let mut cart = pods.remove(0);
    if let Some(status) = cart
        .status
        .as_mut()
        .and_then(|s| s.container_statuses.as_mut())
    {
        status[0].state = Some(k8s_openapi::api::core::v1::ContainerState {
            terminated: Some(k8s_openapi::api::core::v1::ContainerStateTerminated {
                reason: Some("OOMKilled".into()),
                exit_code: 137,
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    cart.metadata.resource_version = Some("11".into());
    tx.send(event(WatchEvent::Modified(cart))).expect("send");
    wait_for(|| {
        live.rows().iter().any(|r| {
            r.target() == "shop/cart/app"
                && r.state == ContainerState::Terminated("OOMKilled".into())
        })
    })
    .await;
    assert_eq!(live.problem(), None);

    let watches: Vec<Call> = api.requests().into_iter().filter(Call::is_watch).collect();
    assert!(!watches.is_empty());
    for w in watches {
        assert_eq!(
            w.param("fieldSelector").as_deref(),
            Some("spec.nodeName=node-a"),
            "{w:?}"
        );
    }
}

/// The live view of this node's pods on `api`, once its first LIST is in.
async fn ready_live_view(api: &FakeApi) -> LiveView {
    let discovery = Discovery::new(api.config(), NODE.into()).expect("discovery");
    let live = discovery.watch();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), live.ready())
            .await
            .expect("ready in time")
    );
    live
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the live view did not catch up within 5 s");
}

#[tokio::test]
async fn forbidden_says_which_verb_and_resource() {
    let api = FakeApi::start(|_| Reply::Json(StatusCode::FORBIDDEN, forbidden("list"))).await;
    let discovery = Discovery::new(api.config(), NODE.into()).expect("discovery");
    let err = discovery.list().await.unwrap_err();
    assert!(
        matches!(
            err,
            DiscoveryError::Forbidden {
                verb: "list",
                resource: "pods",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("forbidden: this identity may not list pods in all namespaces"),
        "{msg}"
    );
    assert!(
        msg.contains("RBAC verb \"list\" on resource \"pods\""),
        "{msg}"
    );

    // The live view reports the same problem instead of dying.
    let live = discovery.watch();
    let mut problem = None;
    for _ in 0..100 {
        problem = live.problem();
        if problem.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(problem.is_some_and(|p| p.starts_with("forbidden:")));
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let config = kube::Config::new(format!("http://{addr}").parse().expect("uri"));
    let discovery = Discovery::new(config, NODE.into()).expect("discovery");
    let err = discovery.list().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DiscoveryError::Unreachable { .. }), "{err:?}");
    assert!(
        msg.contains(&addr.to_string()) && msg.to_lowercase().contains("refused"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_kubeconfig_file_can_point_at_a_plain_http_server() {
    let api = FakeApi::start(filtering_server).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("kubeconfig");
    std::fs::write(&file, kubeconfig(&api.url())).expect("write");
    let opts = KubeOptions {
        kubeconfig: Some(file),
        context: Some("fake".into()),
    };
    let config = discovery::config(&opts).await.expect("config");
    let rows = Discovery::new(config, NODE.into())
        .expect("discovery")
        .list()
        .await
        .expect("list");
    assert_eq!(rows.len(), 5);

    let opts = KubeOptions {
        kubeconfig: Some(dir.path().join("missing")),
        context: None,
    };
    let err = discovery::config(&opts).await.unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

pub fn kubeconfig(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: not-checked\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_that_ends_at_once_is_restarted_with_backoff_not_in_a_loop() {
    // Every WATCH gets a stream that ends before its first event: a proxy with a
    // short idle timeout, or an API server shedding load.
    let api = FakeApi::start(|call| {
        if call.is_watch() {
            Reply::Stream(mpsc::unbounded_channel().1)
        } else {
            filtering_server(call)
        }
    })
    .await;
    let live = ready_live_view(&api).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let watches = api.requests().iter().filter(|r| r.is_watch()).count();
    // kube's watcher backoff starts at 0.8 s and doubles: a handful in 4 s, where
    // a restart without pause makes hundreds.
    assert!((1..=8).contains(&watches), "{watches} watches in 4 s");
    assert_eq!(live.rows().len(), 5, "the listed pods stay in the view");
}
