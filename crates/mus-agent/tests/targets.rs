//! TARGET resolution end to end, without a kernel: the fake API server answers the
//! pod lookups and a temp dir stands in for the cgroup mount.

mod common;

use std::path::PathBuf;

use common::{FakeApi, PodSpecOf, Reply, State, not_found, pod};
use hyper::StatusCode;
use mus_agent::cgroup::resolve::{Resolver, Via};
use mus_agent::kube::discovery::Discovery;
use mus_agent::targets::{Resolved, TargetError, parse, resolve_kube};

const UID: &str = "44444444-4444-4444-4444-444444444444";

async fn server() -> FakeApi {
    FakeApi::start(|call| {
        let web = |node| {
            pod(PodSpecOf {
                namespace: "shop",
                name: "web",
                uid: UID,
                node,
                qos: "Burstable",
                phase: "Running",
                containers: vec![
                    ("nginx", "containerd://f00d", State::Running),
                    ("logger", "containerd://beef", State::Waiting),
                ],
            })
        };
        match call.path.as_str() {
            "/api/v1/namespaces/shop/pods/web" => Reply::Json(
                StatusCode::OK,
                serde_json::to_string(&web("node-a")).expect("json"),
            ),
            "/api/v1/namespaces/shop/pods/far" => Reply::Json(
                StatusCode::OK,
                serde_json::to_string(&web("node-b")).expect("json"),
            ),
            _ => Reply::Json(
                StatusCode::NOT_FOUND,
                not_found(call.path.rsplit('/').next().unwrap_or("")),
            ),
        }
    })
    .await
}

async fn resolve(
    api: &FakeApi,
    root: &std::path::Path,
    target: &str,
) -> Result<Resolved, TargetError> {
    let discovery = Discovery::new(api.config(), "node-a".into()).expect("discovery");
    // No containerd here: the sockets do not exist, so the filesystem answers.
    let resolver = Resolver::new(vec![root.join("no-containerd.sock")], root.to_path_buf());
    resolve_kube(&parse(target).expect("target"), &discovery, &resolver).await
}

fn cgroup_tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let pod = root.path().join(format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        UID.replace('-', "_")
    ));
    let container = pod.join("cri-containerd-f00d.scope");
    std::fs::create_dir_all(&container).expect("mkdir");
    (root, pod, container)
}

#[tokio::test]
async fn pods_and_containers_resolve_to_their_cgroups() {
    let api = server().await;
    let (root, pod_dir, container_dir) = cgroup_tree();

    let pod = resolve(&api, root.path(), "shop/web").await.expect("pod");
    assert_eq!(pod.path, pod_dir);
    assert_eq!(pod.via, Via::CgroupFs);

    let container = resolve(&api, root.path(), "shop/web/nginx")
        .await
        .expect("container");
    assert_eq!(container.path, container_dir);
    let note = container.note.expect("containerd fallback is reported");
    assert!(
        note.contains("containerd unreachable at")
            && note.contains("resolved through the cgroup filesystem"),
        "{note}"
    );
}

#[tokio::test]
async fn each_bad_target_gets_its_own_sentence() {
    let api = server().await;
    let (root, _, _) = cgroup_tree();
    let cases = [
        ("shop/ghost", "pod shop/ghost was not found"),
        ("shop/far", "runs on node node-b, not on this node (node-a)"),
        (
            "shop/web/redis",
            "has no container \"redis\" (it has: nginx, logger)",
        ),
        (
            "shop/web/logger",
            "container shop/web/logger is not running (waiting (CrashLoopBackOff))",
        ),
    ];
    for (target, expected) in cases {
        let err = resolve(&api, root.path(), target).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{target}: {err}");
    }

    // A running container whose cgroup is nowhere on disk: wrong --cgroup-root.
    let empty = tempfile::tempdir().expect("tempdir");
    let err = resolve(&api, empty.path(), "shop/web/nginx")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is --cgroup-root the cgroup2 mount"),
        "{err}"
    );
}
