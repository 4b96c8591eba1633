//! mus-agent end to end in the QEMU test bed (mus-testbed): a real sched_ext kernel,
//! a running mus-runner, real containerd and runc running a pod's container from a
//! locally built image, and a fake API server on the guest's loopback (busybox httpd
//! serving Pod JSON made here with k8s-openapi types). One boot; each assertion is
//! on what an operator would see: exit codes, bpftool's dump, CPU time.
//!
//! Not skipped when QEMU, the kernel or containerd is missing: it fails and says why.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{PodSpecOf, State, pod, pod_list};
use mus_testbed::{GuestRun, Scenario, Testbed, busybox_image_tar};

const LIB: &str = include_str!("../../mus-runner/tests/scenarios/lib.sh");
const SCRIPT: &str = include_str!("scenarios/agent.sh");

const NS: &str = "shop";
const POD: &str = "cart";
const CTR: &str = "app";
const POD_UID: &str = "3f9a1c2e-7b4d-4e8f-9a0b-1c2d3e4f5a6b";
const NODE: &str = "node-a";
const IMAGE: &str = "docker.io/local/busybox:1";
const PORT: u16 = 8080;
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// 64 hex digits, like the IDs the CRI plugin gives containers.
fn container_id(seed: u8) -> String {
    format!("{seed:02x}").repeat(32)
}

/// mus-runner, built here: Cargo builds only this package's binaries for its tests.
fn runner_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--package",
            "mus-runner",
            "--bin",
            "mus-runner",
        ])
        .status()
        .expect("cannot run cargo to build mus-runner");
    assert!(status.success(), "building mus-runner failed");
    Path::new(env!("CARGO_BIN_EXE_mus-agent")).with_file_name("mus-runner")
}

/// The Pod and the node's PodList the API server serves while container `cid` runs.
fn write_api(dir: &Path, n: u8, cid: &str) {
    let id = format!("containerd://{cid}");
    let p = pod(PodSpecOf {
        namespace: NS,
        name: POD,
        uid: POD_UID,
        node: NODE,
        qos: "BestEffort",
        phase: "Running",
        containers: vec![(CTR, id.as_str(), State::Running)],
    });
    std::fs::write(
        dir.join(format!("pod{n}.json")),
        serde_json::to_string(&p).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join(format!("list{n}.json")), pod_list(vec![p])).unwrap();
}

const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://127.0.0.1:PORT
contexts:
- name: fake
  context:
    cluster: fake
    user: nobody
current-context: fake
users:
- name: nobody
  user: {}
";

/// No kubelet in the guest: the CRI plugin stays off; overlayfs is a module the guest
/// lacks, so the native snapshotter is the one used.
const CONTAINERD_CONFIG: &str = r#"version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.overlayfs"]
"#;

fn get<'a>(run: &'a GuestRun, key: &str) -> &'a str {
    run.require(key).unwrap_or_else(|e| panic!("{e}"))
}

/// Share of the first cgroup in a `measure` line.
fn share(run: &GuestRun, key: &str) -> f64 {
    let value = get(run, key);
    let nums: Vec<f64> = value
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match nums[..] {
        [a, b] if a + b > 0.0 => a / (a + b),
        _ => panic!(
            "{key} should be two CPU times, got {value:?}\n{}",
            run.console_tail()
        ),
    }
}

/// bpftool's JSON dump: (key, weight) pairs.
fn entries(run: &GuestRun, key: &str) -> Vec<(u64, u64)> {
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

#[test]
fn boost_a_real_containerd_pod_through_the_agent() {
    let runner = runner_binary();
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("image.tar");
    busybox_image_tar(&image, IMAGE).unwrap_or_else(|e| panic!("{e}"));
    let (c1, c2) = (container_id(0xa1), container_id(0xb2));
    write_api(work.path(), 1, &c1);
    write_api(work.path(), 2, &c2);
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::write(&kubeconfig, KUBECONFIG.replace("PORT", &PORT.to_string())).unwrap();
    let containerd_config = work.path().join("containerd.toml");
    std::fs::write(&containerd_config, CONTAINERD_CONFIG).unwrap();

    let header = format!(
        "NS={NS}\nPOD={POD}\nCTR={CTR}\nPOD_UID={POD_UID}\nC1={c1}\nC2={c2}\nNODE={NODE}\nIMAGE={IMAGE}\n"
    );
    let mut scenario = Scenario::new("agent", &format!("{LIB}\n{header}{SCRIPT}"))
        .binary(&runner)
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
        .file(CA_BUNDLE, CA_BUNDLE)
        .timeout(Duration::from_secs(420));
    for n in 1..=2 {
        for kind in ["pod", "list"] {
            let name = format!("{kind}{n}.json");
            scenario = scenario.file(work.path().join(&name), &format!("/opt/api/{name}"));
        }
    }
    let testbed = Testbed::prepare().unwrap_or_else(|e| panic!("no sched_ext guest: {e}"));
    let started = Instant::now();
    let run = testbed
        .run(&scenario)
        .unwrap_or_else(|e| panic!("guest run failed: {e}"));
    eprintln!("guest run took {:?}", started.elapsed());
    let why = run.console_tail();

    // The set-up: scheduler attached, containerd up, image imported, the container
    // runs in the pod's cgroup (cgroupfs driver layout), the API server answers.
    assert_eq!(get(&run, "runner_state"), "enabled", "{why}");
    assert_eq!(get(&run, "containerd"), "up", "{why}");
    assert_eq!(
        get(&run, "import_rc"),
        "0",
        "{}\n{why}",
        get(&run, "import")
    );
    assert_eq!(get(&run, "run1_rc"), "0", "{}\n{why}", get(&run, "run1"));
    let pod_cg = format!("/kubepods/besteffort/pod{POD_UID}");
    assert_eq!(get(&run, "c1_cgroup"), format!("0::{pod_cg}/{c1}"), "{why}");
    assert_eq!(
        get(&run, "c1_procs"),
        "2",
        "the container should run two hogs\n{why}"
    );
    assert!(
        get(&run, "api_pod").contains("\"apiVersion\":\"v1\""),
        "{why}"
    );

    // Before: the pod's two hogs and the noise's two split the CPUs about evenly.
    let before = share(&run, "before");
    assert!(
        (0.35..=0.65).contains(&before),
        "pod got {before:.3} before the boost\n{why}"
    );

    // 1. `boost ns/pod` exits 0 and bpftool shows the pod cgroup's ID at 4096.
    assert_eq!(
        get(&run, "boost_pod_rc"),
        "0",
        "{}\n{why}",
        get(&run, "boost_pod")
    );
    let pod_id: u64 = run
        .number("pod_cgroup_id")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries(&run, "dump_boosted"), vec![(pod_id, 4096)], "{why}");
    assert!(
        get(&run, "boost_pod").contains(&format!("ID {pod_id}")),
        "{why}"
    );

    // 2. The pod's share against the noisy sibling rises (theory: 4096:1024 = 80%).
    let boosted = share(&run, "boosted");
    assert!(
        boosted >= 0.75,
        "boosted pod got {boosted:.3} (before: {before:.3})\n{why}"
    );

    // 3. `status` names the pod.
    assert_eq!(
        get(&run, "status_rc"),
        "0",
        "{}\n{why}",
        get(&run, "status")
    );
    let status = get(&run, "status");
    assert!(
        status.contains(&pod_id.to_string()) && status.contains(&format!("pod {NS}/{POD}")),
        "status does not name the pod: {status}"
    );

    // 4. A restart (new container ID, new cgroup under the same pod cgroup) stays
    // boosted with no agent action: the map is unchanged and the share stays high.
    assert_eq!(get(&run, "c1_cgroup_after_kill"), "gone", "{why}");
    assert_eq!(get(&run, "run2_rc"), "0", "{}\n{why}", get(&run, "run2"));
    assert_eq!(get(&run, "c2_cgroup"), format!("0::{pod_cg}/{c2}"), "{why}");
    assert_eq!(
        entries(&run, "dump_restarted"),
        vec![(pod_id, 4096)],
        "{why}"
    );
    let restarted = share(&run, "restarted");
    assert!(
        restarted >= 0.75,
        "restarted container got {restarted:.3}\n{why}"
    );

    // 5. `unboost ns/pod` removes the entry, and the share falls back.
    assert_eq!(
        get(&run, "unboost_pod_rc"),
        "0",
        "{}\n{why}",
        get(&run, "unboost_pod")
    );
    assert_eq!(entries(&run, "dump_unboosted"), vec![], "{why}");
    let unboosted = share(&run, "unboosted");
    assert!(
        unboosted <= 0.65,
        "pod still got {unboosted:.3} after unboost\n{why}"
    );

    // 6. `boost ns/pod/ctr` goes through containerd (ID -> task PID -> /proc/PID/cgroup)
    // and writes the container's own cgroup, not the pod's.
    assert_eq!(
        get(&run, "boost_ctr_rc"),
        "0",
        "{}\n{why}",
        get(&run, "boost_ctr")
    );
    let boost_ctr = get(&run, "boost_ctr");
    assert!(
        boost_ctr.contains("found through containerd at /run/containerd/containerd.sock"),
        "the container was not resolved through containerd: {boost_ctr}"
    );
    let c2_id: u64 = run.number("c2_cgroup_id").unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(c2_id, pod_id);
    assert_eq!(entries(&run, "dump_ctr"), vec![(c2_id, 8192)], "{why}");

    // The scheduler was never ejected while the agent worked.
    assert_eq!(get(&run, "runner_alive"), "yes", "{why}");
    assert_eq!(get(&run, "final_state"), "enabled", "{why}");
}
