//! The binary itself: exit statuses and output, against the fake API server.

mod common;

use std::process::{Command, Output};

use common::{FakeApi, PodSpecOf, Reply, State, pod, pod_list};
use hyper::StatusCode;

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mus-agent"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run mus-agent")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_exit_2() {
    let out = agent(&["boost"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = agent(&["boost", "a/b", "--pid", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn failures_exit_1_with_one_sentence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pin = dir.path().join("high_prio_cgroups");
    let pin = pin.to_str().expect("utf-8");
    let out = agent(&["boost", "shop/web", "--weight", "0", "--pin-path", pin]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("weight 0 is out of range"),
        "{}",
        stderr(&out)
    );

    let out = agent(&["boost", "--cgroup", "/", "--pin-path", pin]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // Root gets the runner hint, anyone else the root hint: both are one line.
    assert!(
        err.contains("start mus-runner") || err.contains("must run as root"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_json_through_a_kubeconfig_file() {
    let api = FakeApi::start(|_, _| {
        let web = pod(PodSpecOf {
            namespace: "shop",
            name: "web",
            uid: "55555555-5555-5555-5555-555555555555",
            node: "node-a",
            qos: "BestEffort",
            phase: "Running",
            containers: vec![("nginx", "containerd://abc", State::Running)],
        });
        Reply::Json(StatusCode::OK, pod_list(vec![web]))
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster:\n    server: {}\ncontexts:\n- name: f\n  context:\n    cluster: f\n    user: f\ncurrent-context: f\nusers:\n- name: f\n  user: {{}}\n",
            api.url()
        ),
    )
    .expect("write");
    let pin = dir.path().join("no-map");
    let args: Vec<String> = ["list", "--json", "--node", "node-a", "--kubeconfig"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            kubeconfig.display().to_string(),
            "--pin-path".into(),
            pin.display().to_string(),
        ])
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        agent(&args)
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["namespace"], "shop");
    assert_eq!(rows[0]["container"], "nginx");
    assert_eq!(rows[0]["container_id"]["id"], "abc");
    assert_eq!(rows[0]["boost"], serde_json::Value::Null);
    assert!(
        stderr(&out).contains("boosts not shown"),
        "{}",
        stderr(&out)
    );
    assert!(
        api.requests()[0].contains("fieldSelector=spec.nodeName%3Dnode-a"),
        "{:?}",
        api.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_api_server_is_one_sentence() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: f\n  context:\n    cluster: f\n    user: f\ncurrent-context: f\nusers:\n- name: f\n  user: {{}}\n"),
    )
    .expect("write");
    let kc = kubeconfig.display().to_string();
    let out =
        tokio::task::spawn_blocking(move || agent(&["list", "--node", "n", "--kubeconfig", &kc]))
            .await
            .expect("join");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("is unreachable") && err.trim().lines().count() == 1,
        "{err}"
    );
}
