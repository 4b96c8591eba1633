//! manifests/*.yaml parsed into k8s-openapi types, with the checks that matter to
//! the binaries: what the runner and the agent need from their pod (mounts and
//! their propagation, privileges, NODE_NAME, RBAC for every verb the agent uses),
//! and that the workloads carry the annotation the agent reads.
//!
//! Every document is also serialized back and compared with the YAML, so a field
//! k8s-openapi does not know (a typo such as `mountPropogation`) fails here instead
//! of being dropped silently by the API server.

use std::path::Path;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use mus_agent::annotations::{NODE_LABEL, WEIGHT_ANNOTATION};
use mus_agent::metrics::DEFAULT_PORT;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../manifests")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The one document of `kind`, as a typed object whose every field is known.
fn one<T: DeserializeOwned + serde::Serialize>(docs: &[Value], kind: &str) -> T {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}");
    let typed: T =
        serde_json::from_value(found[0].clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let back = serde_json::to_value(&typed).expect("json");
    assert_eq!(
        &back, found[0],
        "{kind} has fields k8s-openapi does not know (a typo?)"
    );
    typed
}

fn container<'a>(spec: &'a PodSpec, name: &str) -> &'a Container {
    spec.containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[test]
fn every_document_parses_into_a_known_kind() {
    for file in ["redis.yaml", "stress-noise.yaml", "mus-daemonset.yaml"] {
        for doc in documents(file) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            match kind.as_str() {
                "Namespace" => drop(one::<Namespace>(&[doc], "Namespace")),
                "ServiceAccount" => drop(one::<ServiceAccount>(&[doc], "ServiceAccount")),
                "ClusterRole" => drop(one::<ClusterRole>(&[doc], "ClusterRole")),
                "ClusterRoleBinding" => {
                    drop(one::<ClusterRoleBinding>(&[doc], "ClusterRoleBinding"))
                }
                "DaemonSet" => drop(one::<DaemonSet>(&[doc], "DaemonSet")),
                "Deployment" => drop(one::<Deployment>(&[doc], "Deployment")),
                "Service" => drop(one::<Service>(&[doc], "Service")),
                other => panic!("{file}: unexpected kind {other:?}"),
            }
        }
    }
}

#[test]
fn the_daemonset_gives_each_binary_what_it_needs() {
    let docs = documents("mus-daemonset.yaml");
    let ds: DaemonSet = one(&docs, "DaemonSet");
    let ns: Namespace = one(&docs, "Namespace");
    let sa: ServiceAccount = one(&docs, "ServiceAccount");
    assert_eq!(ds.metadata.namespace, ns.metadata.name);
    assert_eq!(sa.metadata.namespace, ns.metadata.name);
    let spec = ds.spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(spec.service_account_name, sa.metadata.name);
    assert_eq!(spec.host_pid, Some(true));
    assert_eq!(
        spec.node_selector
            .as_ref()
            .and_then(|s| s.get(NODE_LABEL))
            .map(String::as_str),
        Some("true")
    );
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    assert!(
        tolerations
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.is_none()
                && t.effect.is_none()),
        "tolerates every taint: {tolerations:?}"
    );

    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let host_path = |name: &str| {
        volumes
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.host_path.as_ref())
            .map(|h| h.path.clone())
    };
    let mount = |c: &Container, vol: &str| {
        c.volume_mounts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|m| m.name == vol)
            .cloned()
            .unwrap_or_else(|| panic!("{} does not mount {vol}", c.name))
    };
    let mounts_of = |c: &Container| -> Vec<String> {
        c.volume_mounts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|m| m.name.clone())
            .collect()
    };

    let runner = container(spec, "runner");
    let agent = container(spec, "agent");
    for c in [runner, agent] {
        assert_eq!(
            c.security_context.as_ref().and_then(|s| s.privileged),
            Some(true),
            "{} is privileged",
            c.name
        );
        assert!(
            c.resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .is_some_and(|r| r.contains_key("cpu") && r.contains_key("memory")),
            "{} requests resources",
            c.name
        );
        assert!(
            c.liveness_probe.is_some(),
            "{} has a liveness probe",
            c.name
        );
    }

    // bpffs: the host's /sys/fs/bpf where both binaries look for the pin.
    assert_eq!(host_path("bpffs").as_deref(), Some("/sys/fs/bpf"));
    // The pin lives in a directory of its own under bpffs, which the runner makes.
    let pin = Path::new(mus_common::DEFAULT_PIN_PATH);
    let runner_bpf = mount(runner, "bpffs");
    let agent_bpf = mount(agent, "bpffs");
    assert_eq!(runner_bpf.mount_path, "/sys/fs/bpf");
    assert_eq!(agent_bpf.mount_path, "/sys/fs/bpf");
    assert!(pin.starts_with(&runner_bpf.mount_path), "{}", pin.display());
    assert_eq!(
        runner_bpf.mount_propagation.as_deref(),
        Some("Bidirectional")
    );
    assert_eq!(
        agent_bpf.mount_propagation.as_deref(),
        Some("HostToContainer")
    );
    // They share the bpffs mount and nothing else.
    assert_eq!(mounts_of(runner), ["bpffs"]);

    // The agent reads the host's cgroup2 tree where its --cgroup-root points.
    assert_eq!(host_path("cgroup").as_deref(), Some("/sys/fs/cgroup"));
    let cgroup = mount(agent, "cgroup");
    let args = agent.command.clone().unwrap_or_default();
    assert_eq!(args[..2], ["mus-agent".to_string(), "watch".to_string()]);
    assert!(
        args.contains(&format!("--cgroup-root={}", cgroup.mount_path)),
        "{args:?}"
    );
    assert!(
        args.contains(&format!("--metrics-addr=0.0.0.0:{DEFAULT_PORT}")),
        "{args:?}"
    );

    // NODE_NAME (the agent's --node) from the downward API.
    let env = agent.env.as_deref().unwrap_or_default();
    let node = env
        .iter()
        .find(|e| e.name == "NODE_NAME")
        .expect("NODE_NAME");
    assert_eq!(
        node.value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("spec.nodeName")
    );

    // Liveness: the agent's /healthz on its metrics port; the runner's pin.
    let http = agent
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("httpGet");
    assert_eq!(http.path.as_deref(), Some("/healthz"));
    assert_eq!(
        http.port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(DEFAULT_PORT.into())
    );
    let exec = runner
        .liveness_probe
        .as_ref()
        .and_then(|p| p.exec.as_ref())
        .expect("exec");
    assert!(
        exec.command
            .as_deref()
            .unwrap_or_default()
            .contains(&mus_common::DEFAULT_PIN_PATH.to_string())
    );
}

#[test]
fn rbac_grants_exactly_what_the_agent_uses() {
    let docs = documents("mus-daemonset.yaml");
    let role: ClusterRole = one(&docs, "ClusterRole");
    let binding: ClusterRoleBinding = one(&docs, "ClusterRoleBinding");
    let sa: ServiceAccount = one(&docs, "ServiceAccount");
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let subjects = binding.subjects.unwrap_or_default();
    assert!(subjects.iter().any(|s| s.kind == "ServiceAccount"
        && Some(&s.name) == sa.metadata.name.as_ref()
        && s.namespace == sa.metadata.namespace));

    let mut grants: Vec<(String, String, String)> = Vec::new();
    for rule in role.rules.unwrap_or_default() {
        for group in rule.api_groups.unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    grants.push((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    grants.sort();
    let g = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    // list/watch: the watcher; get: `mus-agent boost ns/pod` run in the pod;
    // create/patch: kube's event recorder (a repeated Event is patched).
    assert_eq!(
        grants,
        [
            g("", "pods", "get"),
            g("", "pods", "list"),
            g("", "pods", "watch"),
            g("events.k8s.io", "events", "create"),
            g("events.k8s.io", "events", "patch"),
        ]
    );
}

#[test]
fn redis_is_annotated_and_on_nodeport_30001_and_the_noise_is_not() {
    let docs = documents("redis.yaml");
    let redis: Deployment = one(&docs, "Deployment");
    let template = &redis.spec.template;
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    let weight = annotations
        .get(WEIGHT_ANNOTATION)
        .expect("the agent's annotation on the pod template");
    assert!(weight.parse::<mus_common::Weight>().is_ok(), "{weight}");
    // The pod (template) is what the agent reads, not the Deployment.
    assert!(
        redis
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(WEIGHT_ANNOTATION))
    );
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();

    let svc: Service = one(&docs, "Service");
    let spec = svc.spec.expect("spec");
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    let selector = spec.selector.unwrap_or_default();
    assert!(
        !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
        "the Service selects the Redis pods"
    );
    let ports = spec.ports.unwrap_or_default();
    assert_eq!(ports.len(), 1);
    assert_eq!((ports[0].port, ports[0].node_port), (6379, Some(30001)));

    let noise: Deployment = one(&documents("stress-noise.yaml"), "Deployment");
    let pod = &noise.spec.template;
    let noisy = pod
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    assert!(
        noisy.keys().all(|k| !k.starts_with("mus.patos.dev/")),
        "the noise is not boosted"
    );
    let c = container(pod.spec.as_ref().expect("spec"), "stress-ng");
    assert!(
        c.args
            .as_deref()
            .unwrap_or_default()
            .contains(&"--cpu".to_string())
    );
}
