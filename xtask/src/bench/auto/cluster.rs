//! The fake cluster the guest's `mus-agent watch` talks to: the JSON that mus-agent's
//! `tests/scenarios/lib_k8s.sh` (busybox httpd as the API server, shared with the guest
//! tests) serves from /opt/api, the kubeconfig, and the boost policy. The Pod, Node and
//! Namespace are what tests/vm_common makes with k8s-openapi types, written here as
//! JSON (xtask does not build the Kubernetes types).

use std::path::Path;

use serde_json::{Value, json};

pub const NS: &str = "shop";
pub const POD: &str = "redis";
pub const POD_UID: &str = "3f9a1c2e-7b4d-4e8f-9a0b-1c2d3e4f5a6b";
pub const NODE: &str = "node-a";
/// The pod's container: its ID is the name of its cgroup under the pod's (the
/// daemon finds it through the cgroup filesystem: no containerd in this guest).
pub const CONTAINER_ID: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

/// The boost policy the guest tests run under (vm_common's): boosts up to 16384 in
/// namespaces labelled mus.patos.dev/boost=allowed.
const POLICY: &str = "maxWeight: 16384\nannotations:\n  namespaceSelector:\n    matchLabels: {mus.patos.dev/boost: allowed}\n";

/// The guest tests' kubeconfig for lib_k8s.sh's fake API server.
const KUBECONFIG: &str =
    include_str!("../../../../crates/mus-agent/tests/scenarios/kubeconfig.yaml");

/// The auto boost's law settings (`spec.auto` of the CPUBoost), as the guest's daemon
/// reads them; see mod.rs for why these.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoLaw {
    /// `{"psiSomeAvg10": 30}` or `{"waitP99": "4ms"}`.
    pub target: Value,
    pub raise_percent: u32,
    pub cool_down_s: u32,
}

fn list(kind: &str, items: Vec<Value>) -> String {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "100"}, "items": items})
        .to_string()
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": POD, "namespace": NS, "uid": POD_UID, "resourceVersion": "10",
                     "labels": {"app": POD}},
        "spec": {"nodeName": NODE, "containers": [{"name": "redis", "image": "redis:7"}]},
        "status": {"phase": "Running", "qosClass": "BestEffort", "containerStatuses": [{
            "name": "redis", "containerID": format!("containerd://{CONTAINER_ID}"),
            "image": "redis:7", "imageID": "sha256:00", "ready": true, "restartCount": 0,
            "state": {"running": {}}}]}
    })
}

/// A CPUBoost of the pod, weight 4096 for an hour, with `auto` if given; its creation
/// time `@NOW@` (lib_k8s.sh's api_boost stamps it with the guest's clock).
fn boost(name: &str, auto: Option<&AutoLaw>) -> String {
    let mut spec = json!({"podName": POD, "weight": super::MAX_WEIGHT, "duration": "1h",
                          "reason": "cargo xtask bench auto"});
    if let Some(a) = auto {
        spec["auto"] = json!({"target": a.target, "maxWeight": super::MAX_WEIGHT,
                              "raisePercent": a.raise_percent,
                              "coolDown": format!("{}s", a.cool_down_s)});
    }
    json!({
        "apiVersion": "mus.patos.dev/v1alpha1", "kind": "CPUBoost",
        "metadata": {"name": name, "namespace": NS, "uid": format!("b0057000-0000-4000-8000-00000000000{}", u8::from(auto.is_some())),
                     "resourceVersion": "30", "generation": 1, "creationTimestamp": "@NOW@"},
        "spec": spec,
    })
    .to_string()
}

/// Writes the files into `work`; returns (host path, guest path) pairs.
pub fn files(work: &Path, law: &AutoLaw) -> anyhow::Result<Vec<(std::path::PathBuf, String)>> {
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE, "resourceVersion": "1"},
        "status": {"allocatable": {"cpu": "2"}, "nodeInfo": {"bootID": "@BOOT_ID@",
            "machineID": "", "systemUUID": "", "kernelVersion": "", "osImage": "",
            "containerRuntimeVersion": "", "kubeletVersion": "", "kubeProxyVersion": "",
            "operatingSystem": "", "architecture": ""}}});
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "resourceVersion": "1", "labels": {"mus.patos.dev/boost": "allowed"}}});
    let texts = [
        ("pod1.json", "/opt/api/pod1.json", pod().to_string()),
        (
            "list1.json",
            "/opt/api/list1.json",
            list("PodList", vec![pod()]),
        ),
        (
            "nodes.json",
            "/opt/api/nodes.json",
            list("NodeList", vec![node]),
        ),
        (
            "namespaces.json",
            "/opt/api/namespaces.json",
            list("NamespaceList", vec![namespace]),
        ),
        (
            "boost-manual.json",
            "/opt/api/boost-manual.json",
            boost("permanent", None),
        ),
        (
            "boost-auto.json",
            "/opt/api/boost-auto.json",
            boost("auto", Some(law)),
        ),
        ("kubeconfig", "/opt/kubeconfig", KUBECONFIG.to_string()),
        ("policy.yaml", "/opt/policy.yaml", POLICY.to_string()),
    ];
    let mut out = Vec::new();
    for (name, guest, text) in texts {
        let path = work.join(name);
        std::fs::write(&path, text)?;
        out.push((path, guest.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boosts_differ_only_in_auto() {
        let law = AutoLaw {
            target: json!({"waitP99": "4ms"}),
            raise_percent: 100,
            cool_down_s: 5,
        };
        let manual: Value = serde_json::from_str(&boost("permanent", None)).unwrap();
        let auto: Value = serde_json::from_str(&boost("auto", Some(&law))).unwrap();
        assert_eq!(manual["spec"]["weight"], 4096);
        assert!(manual["spec"].get("auto").is_none());
        assert_eq!(
            auto["spec"]["auto"],
            json!({"target": {"waitP99": "4ms"}, "maxWeight": 4096, "raisePercent": 100, "coolDown": "5s"})
        );
        assert_ne!(manual["metadata"]["uid"], auto["metadata"]["uid"]);
    }
}
