//! What mus-agent's VM tests (`tests/vm.rs`, `tests/vm_watch.rs`, `tests/vm_fallback.rs`) share: one pod's
//! names, the guest's containerd, kube and API-server set-up (with the shell side in
//! `scenarios/lib_k8s.sh`), and readers for what the guest reports. Each test binary
//! that uses it also declares `mod common;` (Pod JSON from k8s-openapi types).
#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, NodeStatus, NodeSystemInfo, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use mus_testbed::{GuestRun, Scenario, Testbed, build_workspace_bins, busybox_image_tar};

use crate::common::{PodSpecOf, State, list, pod, pod_list};

pub const NS: &str = "shop";
pub const POD: &str = "cart";
pub const CTR: &str = "app";
pub const POD_UID: &str = "3f9a1c2e-7b4d-4e8f-9a0b-1c2d3e4f5a6b";
pub const NODE: &str = "node-a";
pub const IMAGE: &str = "docker.io/local/busybox:1";
/// The label of the pod's namespace (a boost policy can select it).
pub const NS_LABEL: (&str, &str) = ("mus.patos.dev/boost", "allowed");
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// containerd, containers, the fake API server (lib_k8s.sh).
const LIB_K8S: &str = include_str!("../scenarios/lib_k8s.sh");

/// The boost policy the guest's daemons run under: annotations honoured in the pod's
/// namespace (labelled [`NS_LABEL`]) up to 16384.
pub fn annotation_policy() -> String {
    format!(
        "maxWeight: 16384\nannotations:\n  namespaceSelector:\n    matchLabels: {{{}: {}}}\n",
        NS_LABEL.0, NS_LABEL.1
    )
}

/// The pod's cgroup as the guest makes it (kubelet's cgroupfs driver, BestEffort).
pub fn pod_cgroup() -> String {
    format!("/kubepods/besteffort/pod{POD_UID}")
}

/// 64 hex digits, like the IDs the CRI plugin gives containers.
pub fn container_id(seed: u8) -> String {
    format!("{seed:02x}").repeat(32)
}

/// mus-runner, built here: Cargo builds only this package's binaries for its tests.
pub fn runner_binary() -> PathBuf {
    let [runner] = build_workspace_bins(["mus-runner"]).unwrap_or_else(|e| panic!("{e}"));
    runner
}

/// The pod, running container `cid`, with `annotations` and `resource_version`.
pub fn the_pod(cid: &str, annotations: &[(&str, &str)], resource_version: &str) -> Pod {
    let id = format!("containerd://{cid}");
    let mut p = pod(PodSpecOf {
        namespace: NS,
        name: POD,
        uid: POD_UID,
        node: NODE,
        qos: "BestEffort",
        phase: "Running",
        containers: vec![(CTR, id.as_str(), State::Running)],
    });
    if !annotations.is_empty() {
        p.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
    }
    p.metadata.resource_version = Some(resource_version.into());
    p
}

/// The kube client's configuration: the fake API server is one CGI script (see
/// lib_k8s.sh), so the server URL has a path, which kube keeps as a prefix.
/// (Shared with `cargo xtask bench auto`'s guest, which talks to the same fake server.)
const KUBECONFIG: &str = include_str!("../scenarios/kubeconfig.yaml");

/// No kubelet in the guest: the CRI plugin stays off; overlayfs is a module the guest
/// lacks, so the native snapshotter is the one used.
const CONTAINERD_CONFIG: &str = r#"version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.overlayfs"]
"#;

/// A guest with mus-runner, mus-agent, bpftool, containerd + runc, the busybox image
/// and a kubeconfig; `pods[n-1]` is served by `api_serve n` (as /opt/api/pod<n>.json,
/// and list<n>.json holding just it). The script is lib.sh, `vars` (shell
/// assignments), lib_k8s.sh, then `script`. Files are written under `work`.
pub fn k8s_scenario(name: &str, vars: &str, script: &str, work: &Path, pods: &[Pod]) -> Scenario {
    let image = work.join("image.tar");
    busybox_image_tar(&image, IMAGE).unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = work.join("kubeconfig");
    std::fs::write(&kubeconfig, KUBECONFIG).unwrap();
    let containerd_config = work.join("containerd.toml");
    std::fs::write(&containerd_config, CONTAINERD_CONFIG).unwrap();
    let header = format!(
        "NS={NS}\nPOD={POD}\nCTR={CTR}\nPOD_UID={POD_UID}\nNODE={NODE}\nIMAGE={IMAGE}\n{vars}\n"
    );
    let mut scenario = Scenario::with_guest_lib(name, &format!("{header}{LIB_K8S}\n{script}"))
        .binary(runner_binary())
        .binary(env!("CARGO_BIN_EXE_mus-agent"))
        .host_tool("bpftool")
        .host_tool("containerd")
        .host_tool("containerd-shim-runc-v2")
        .host_tool("ctr")
        .host_tool("runc")
        .file(&image, "/opt/image.tar")
        .file(&kubeconfig, "/opt/kubeconfig")
        .file(&containerd_config, "/etc/containerd/config.toml")
        // kube's TLS set-up loads the system's CA roots when the kubeconfig names no CA,
        // even for an http:// server; a node has them, the bare guest does not.
        .file(CA_BUNDLE, CA_BUNDLE);
    // The Node (its boot ID filled in by the guest, see start_api) and the pod's
    // Namespace, labelled so that the policy of tests/vm_watch.rs selects it.
    let node = Node {
        metadata: ObjectMeta {
            name: Some(NODE.into()),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        status: Some(NodeStatus {
            allocatable: Some(BTreeMap::from([("cpu".to_string(), Quantity("2".into()))])),
            node_info: Some(NodeSystemInfo {
                boot_id: "@BOOT_ID@".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(NS.into()),
            resource_version: Some("1".into()),
            labels: Some(BTreeMap::from([(
                NS_LABEL.0.to_string(),
                NS_LABEL.1.to_string(),
            )])),
            ..Default::default()
        },
        ..Default::default()
    };
    for (file, text) in [
        ("nodes.json", list(vec![node])),
        ("namespaces.json", list(vec![namespace])),
    ] {
        std::fs::write(work.join(file), text).unwrap();
        scenario = scenario.file(work.join(file), &format!("/opt/api/{file}"));
    }
    for (i, p) in pods.iter().enumerate() {
        let n = i + 1;
        let files = [
            (format!("pod{n}.json"), serde_json::to_string(p).unwrap()),
            (format!("list{n}.json"), pod_list(vec![p.clone()])),
        ];
        for (file, text) in files {
            std::fs::write(work.join(&file), text).unwrap();
            scenario = scenario.file(work.join(&file), &format!("/opt/api/{file}"));
        }
    }
    scenario
        .timeout(Duration::from_secs(420))
        // a guest frozen or oopsed by the emulator is booted once more; everything the
        // scenario keeps (containerd, the fake API server) lives in the guest
        .boot_again_on_emulator_fault(true)
}

pub fn get<'a>(run: &'a GuestRun, key: &str) -> &'a str {
    run.require(key).unwrap_or_else(|e| panic!("{e}"))
}

/// Hundredths of a second the guest reported for `key` (a wait of up to
/// `within_s` seconds); its "timeout" fails with `what`.
pub fn took_cs(run: &GuestRun, key: &str, what: &str, within_s: u32) -> u32 {
    let value = get(run, key);
    value.parse().unwrap_or_else(|_| {
        panic!(
            "{what}: not within {within_s} s ({key} = {value})\n{}",
            run.console_tail()
        )
    })
}

/// `policy` as the guest's /opt/policy.yaml, written under `work`.
pub fn with_policy(scenario: Scenario, work: &Path, policy: &str) -> Scenario {
    let path = work.join("policy.yaml");
    std::fs::write(&path, policy).unwrap();
    scenario.file(&path, "/opt/policy.yaml")
}

/// Boots the test bed and runs `scenario`; a guest that cannot be had fails.
pub fn run_guest(scenario: &Scenario) -> GuestRun {
    let testbed = Testbed::prepare().unwrap_or_else(|e| panic!("no sched_ext guest: {e}"));
    let started = Instant::now();
    let run = testbed
        .run(scenario)
        .unwrap_or_else(|e| panic!("guest run failed: {e}"));
    eprintln!("guest run took {:?}", started.elapsed());
    run
}

/// The set-up every containerd scenario starts with: scheduler attached, containerd
/// up, image imported, container `c1` running its two hogs in the pod's cgroup
/// (cgroupfs driver layout).
pub fn check_container_setup(run: &GuestRun, c1: &str) {
    let why = run.console_tail();
    assert_eq!(get(run, "runner_state"), "enabled", "{why}");
    assert_eq!(get(run, "containerd"), "up", "{why}");
    assert_eq!(get(run, "import_rc"), "0", "{}\n{why}", get(run, "import"));
    assert_eq!(get(run, "run1_rc"), "0", "{}\n{why}", get(run, "run1"));
    assert_eq!(
        get(run, "c1_cgroup"),
        format!("0::{}/{c1}", pod_cgroup()),
        "{why}"
    );
    assert_eq!(
        get(run, "c1_procs"),
        "2",
        "the container should run two hogs\n{why}"
    );
}

/// The numbers in the guest's value for `key`.
pub fn numbers(run: &GuestRun, key: &str) -> Vec<f64> {
    get(run, key)
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Share of the first cgroup in a `measure` line.
pub fn share(run: &GuestRun, key: &str) -> f64 {
    let value = get(run, key);
    match numbers(run, key)[..] {
        [a, b] if a + b > 0.0 => a / (a + b),
        _ => panic!(
            "{key} should be two CPU times, got {value:?}\n{}",
            run.console_tail()
        ),
    }
}

/// bpftool's JSON dump: (key, weight) pairs.
pub fn entries(run: &GuestRun, key: &str) -> Vec<(u64, u64)> {
    let text = get(run, key);
    let json: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{key}: bpftool did not print JSON ({e}): {text}"));
    let items = json
        .as_array()
        .unwrap_or_else(|| panic!("{key}: not an array: {text}"));
    items
        .iter()
        .map(|e| {
            // With BTF, bpftool prints typed fields (under "formatted" in some versions).
            let e = e.get("formatted").unwrap_or(e);
            let k = e["key"].as_u64();
            let w = e["value"]["weight"].as_u64();
            match (k, w) {
                (Some(k), Some(w)) => (k, w),
                _ => panic!("{key}: an entry without key or weight: {e}"),
            }
        })
        .collect()
}
