//! manifests/*.yaml parsed into k8s-openapi types, with the checks that matter to
//! the binaries: what the runner and the agent need from their pod (mounts and
//! their propagation, privileges and the reason written next to each, NODE_NAME,
//! RBAC for every verb the agent uses), that the shipped boost policy is one the
//! agent accepts and that the admission policy enforces the same numbers, and that
//! the demo workloads are granted (or not) what they should be.
//!
//! Every document is also serialized back and compared with the YAML, so a field
//! k8s-openapi does not know (a typo such as `mountPropogation`) fails here instead
//! of being dropped silently by the API server.
//!
//! In manifests/: `kustomize` (the base `kubectl apply -k manifests/` installs),
//! `admission` (the admission policies' CEL evaluated on sample requests),
//! `crd_cel` (the CPUBoost CRD's CEL rules on sample specs) and `seccomp` (the
//! agent's seccomp profile and how it reaches the kubelet).

mod common;

use std::path::Path;

use common::manifests::{documents, manifests_dir, text};
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use mus_agent::daemon::grant::annotations::{
    BOOST_ANNOTATION, NAMESPACE_LABEL, NODE_LABEL, WEIGHT_ANNOTATION,
};
use mus_agent::daemon::grant::policy::Policy;
use mus_agent::daemon::metrics::DEFAULT_PORT;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[path = "manifests/admission.rs"]
mod admission;
#[path = "manifests/crd_cel.rs"]
mod crd_cel;
#[path = "manifests/kustomize.rs"]
mod kustomize;
#[path = "manifests/seccomp.rs"]
mod seccomp;

/// Every manifest file: the kustomization's resources and the demos.
const FILES: [&str; 5] = [
    "cpuboost-crd.yaml",
    "redis.yaml",
    "stress-noise.yaml",
    "mus-daemonset.yaml",
    "mus-admission.yaml",
];

/// The demo workloads of the original project's measurements: not part of the mus
/// base (kustomization.yaml), applied with `kubectl apply -f` where wanted.
const DEMOS: [&str; 2] = ["redis.yaml", "stress-noise.yaml"];

/// Where the DaemonSet pins the map (its containers' `--pin-path`).
const PIN: &str = "/sys/fs/bpf/mus/high_prio_cgroups";

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

/// The one document of `kind` named `name`, as [`one`] reads it.
fn named<T: DeserializeOwned + serde::Serialize>(docs: &[Value], kind: &str, name: &str) -> T {
    let found: Vec<Value> = docs
        .iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .cloned()
        .collect();
    one(&found, kind)
}

/// Every (apiGroup, resource, verb) a role grants, sorted.
fn grants_of(role: ClusterRole) -> Vec<(String, String, String)> {
    let mut grants = Vec::new();
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
    grants
}

fn container<'a>(spec: &'a PodSpec, name: &str) -> &'a Container {
    spec.containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// Container `c` is not privileged, cannot gain privileges, has a read-only root
/// filesystem and no capability at all.
fn assert_unprivileged(c: &Container) {
    let sc = c.security_context.as_ref().expect("securityContext");
    assert_eq!(sc.privileged, Some(false), "{}", c.name);
    assert_eq!(sc.allow_privilege_escalation, Some(false), "{}", c.name);
    assert_eq!(sc.read_only_root_filesystem, Some(true), "{}", c.name);
    let caps = sc.capabilities.as_ref().expect("capabilities");
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!(caps.add, None, "{} adds no capability", c.name);
}

#[test]
fn every_document_parses_into_a_known_kind() {
    for file in FILES {
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
                "ConfigMap" => drop(one::<ConfigMap>(&[doc], "ConfigMap")),
                "NetworkPolicy" => drop(one::<NetworkPolicy>(&[doc], "NetworkPolicy")),
                "PriorityClass" => drop(one::<PriorityClass>(&[doc], "PriorityClass")),
                "CustomResourceDefinition" => drop(one::<CustomResourceDefinition>(
                    &[doc],
                    "CustomResourceDefinition",
                )),
                "ValidatingAdmissionPolicy" => drop(one::<ValidatingAdmissionPolicy>(
                    &[doc],
                    "ValidatingAdmissionPolicy",
                )),
                "ValidatingAdmissionPolicyBinding" => {
                    drop(one::<ValidatingAdmissionPolicyBinding>(
                        &[doc],
                        "ValidatingAdmissionPolicyBinding",
                    ))
                }
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
    // No host namespaces: neither binary needs one.
    assert_eq!(spec.host_pid, None);
    assert_eq!(spec.host_network, None);
    assert_eq!(spec.host_ipc, None);
    // No token unless a container mounts it: the runner has none.
    assert_eq!(spec.automount_service_account_token, Some(false));
    assert_eq!(sa.automount_service_account_token, Some(false));
    assert_eq!(
        spec.node_selector
            .as_ref()
            .and_then(|s| s.get(NODE_LABEL))
            .map(String::as_str),
        Some("true")
    );
    assert!(
        NODE_LABEL.starts_with("node-restriction.kubernetes.io/"),
        "a label a kubelet cannot set on its own Node"
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
    // The runner loads the scheduler: privileged. The agent: nothing but uid 0.
    let runner_sc = runner
        .security_context
        .as_ref()
        .expect("runner securityContext");
    assert_eq!(runner_sc.privileged, Some(true));
    assert_unprivileged(agent);

    // The runner sees the host's bpffs; the agent only the pin directory, and both
    // are told the same pin path.
    let pin_dir = Path::new(PIN).parent().and_then(Path::to_str);
    assert_eq!(host_path("bpffs").as_deref(), Some("/sys/fs/bpf"));
    assert_eq!(host_path("mus-pins").as_deref(), pin_dir);
    let runner_bpf = mount(runner, "bpffs");
    let agent_pins = mount(agent, "mus-pins");
    assert_eq!(runner_bpf.mount_path, "/sys/fs/bpf");
    assert_eq!(Some(agent_pins.mount_path.as_str()), pin_dir);
    assert_eq!(
        runner_bpf.mount_propagation.as_deref(),
        Some("Bidirectional")
    );
    assert_eq!(
        agent_pins.mount_propagation.as_deref(),
        Some("HostToContainer")
    );
    assert!(
        !mounts_of(agent).contains(&"bpffs".to_string()),
        "the agent does not mount the whole bpffs"
    );
    // The host's cgroup tree is read-only to the agent, mounts under it included.
    let cgroup = mount(agent, "cgroup");
    assert_eq!(cgroup.read_only, Some(true));
    assert_eq!(cgroup.recursive_read_only.as_deref(), Some("IfPossible"));
    assert_eq!(
        mounts_of(runner),
        ["bpffs"],
        "the runner mounts nothing else"
    );
    let runner_cmd = runner.command.clone().unwrap_or_default();
    assert!(
        runner_cmd.contains(&format!("--pin-path={PIN}")),
        "{runner_cmd:?}"
    );
    assert!(
        agent
            .command
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("--pin-path={PIN}"))
    );
    // The token: mounted into the agent only.
    let token = mount(agent, "api-token");
    assert_eq!(
        token.mount_path,
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert!(volumes.iter().any(|v| v.name == "api-token"
        && v.projected.as_ref().is_some_and(|p| {
            p.sources
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|s| s.service_account_token.is_some())
        })));

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
            .contains(&PIN.to_string())
    );
    let ready = agent
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("readiness httpGet");
    assert_eq!(ready.path.as_deref(), Some("/readyz"));

    // The policy the agent is told to read is the ConfigMap's, mounted there.
    let policy_mount = mount(agent, "policy");
    let args = agent.command.clone().unwrap_or_default();
    assert!(
        args.contains(&format!("--policy={}/policy.yaml", policy_mount.mount_path)),
        "{args:?}"
    );
    // From the ConfigMap the kustomization generates (kustomize.rs checks the name).
    assert!(
        volumes
            .iter()
            .any(|v| v.name == "policy" && v.config_map.is_some())
    );
}

/// The lines that grant a privilege (or widen what a container reaches) in a
/// manifest: each must come right after a comment that says why.
const PRIVILEGES: [&str; 11] = [
    "privileged: true",
    "hostPID: true",
    "hostNetwork: true",
    "hostIPC: true",
    "runAsUser: 0",
    "add:",
    "type: Unconfined",
    "mountPropagation: Bidirectional",
    "hostPath:",
    "operator: Exists",
    "pod-security.kubernetes.io/enforce: privileged",
];

#[test]
fn every_privilege_is_justified_by_the_comment_above_it() {
    for file in FILES {
        let text = text(file);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(privilege) = PRIVILEGES
                .iter()
                .find(|p| line.trim().trim_start_matches("- ") == **p)
            else {
                continue;
            };
            // The comment is right above the line, or right above the key that
            // holds it (`tolerations:` for `- operator: Exists`, `seccompProfile:`
            // for `type: Unconfined`, the volume's `- name:` for `hostPath:`).
            let indent_of = |l: &str| l.len() - l.trim_start().len();
            let comment_above = |at: usize| at > 0 && lines[at - 1].trim_start().starts_with('#');
            let indent = indent_of(line);
            let parent = (0..i)
                .rev()
                .find(|&j| !lines[j].trim().is_empty() && indent_of(lines[j]) < indent);
            let justified = comment_above(i) || parent.is_some_and(comment_above);
            assert!(
                justified,
                "{file}:{}: `{privilege}` without a comment saying why",
                i + 1
            );
        }
    }
    // And no container is privileged but the runner.
    let ds: DaemonSet = one(&documents("mus-daemonset.yaml"), "DaemonSet");
    let spec = ds.spec.template.spec.expect("pod spec");
    let privileged: Vec<&str> = spec
        .containers
        .iter()
        .filter(|c| c.security_context.as_ref().and_then(|s| s.privileged) == Some(true))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(privileged, ["runner"]);
}

#[test]
fn the_shipped_policy_loads_and_admission_enforces_the_same_rules() {
    let policy = shipped_policy();
    let max = policy.max_weight.get();

    let admission = documents("mus-admission.yaml");
    let class: PriorityClass = one(&admission, "PriorityClass");
    let class_name = class.metadata.name.clone().expect("name");
    assert!(
        policy.priority_classes.contains_key(&class_name),
        "the policy grants the shipped class {class_name}"
    );
    // The class carries a boost and no scheduling privilege.
    assert_eq!(class.value, Some(0));
    assert_eq!(class.preemption_policy.as_deref(), Some("Never"));
    assert_eq!(class.global_default, Some(false));

    // Both routes are limited to the namespaces labelled NAMESPACE_LABEL=allowed.
    let labelled =
        std::collections::BTreeMap::from([(NAMESPACE_LABEL.to_string(), "allowed".to_string())]);
    for selector in [&policy.class_namespaces, &policy.annotation_namespaces] {
        let selector = selector.as_ref().expect("a namespace selector");
        assert!(selector.matches(&labelled));
        assert!(!selector.matches(&Default::default()));
    }
    assert!(policy.node_cap.max_pods.is_some());
    assert!(
        policy
            .node_cap
            .max_pods_per_namespace
            .is_some_and(|n| Some(n) < policy.node_cap.max_pods),
        "one namespace cannot fill the node"
    );
    assert!(policy.node_cap.max_cpu_limit_fraction.is_some());
    assert_eq!(
        policy.unprotected_selectors(),
        Vec::<String>::new(),
        "the shipped selectors need the label only admins may set"
    );

    let spec = admission::policy("mus-boost-policy");
    assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
    let cel: String = spec
        .variables
        .unwrap_or_default()
        .iter()
        .map(|v| v.expression.clone())
        .chain(
            spec.validations
                .unwrap_or_default()
                .iter()
                .map(|v| v.expression.clone()),
        )
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        format!("'{WEIGHT_ANNOTATION}'"),
        format!("'{BOOST_ANNOTATION}'"),
        format!("'{NAMESPACE_LABEL}'"),
        format!("== '{class_name}'"),
        format!("<= {max})"),
    ] {
        assert!(
            cel.contains(&needle),
            "the admission policy lacks {needle}:\n{cel}"
        );
    }
    let rules = spec
        .match_constraints
        .and_then(|m| m.resource_rules)
        .unwrap_or_default();
    assert!(rules.iter().any(
        |r| r.resources.as_deref() == Some(&["pods".to_string()][..])
            && r.operations.as_deref().is_some_and(
                |o| o.contains(&"CREATE".to_string()) && o.contains(&"UPDATE".to_string())
            )
    ));

    // Every policy is bound, and denies.
    for doc in admission
        .iter()
        .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
    {
        let name = doc["metadata"]["name"].as_str().expect("name");
        let binding = admission
            .iter()
            .find(|d| {
                d["kind"] == "ValidatingAdmissionPolicyBinding" && d["spec"]["policyName"] == name
            })
            .unwrap_or_else(|| panic!("{name} is not bound"));
        let binding: ValidatingAdmissionPolicyBinding =
            serde_json::from_value(binding.clone()).expect("binding");
        assert_eq!(binding.spec.validation_actions, vec!["Deny".to_string()]);
    }
}

#[test]
fn the_metrics_port_is_open_to_monitoring_only() {
    let docs = documents("mus-daemonset.yaml");
    let np: NetworkPolicy = one(&docs, "NetworkPolicy");
    let ds: DaemonSet = one(&docs, "DaemonSet");
    assert_eq!(np.metadata.namespace, ds.metadata.namespace);
    let spec = np.spec.expect("spec");
    let pod_labels = ds
        .spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .unwrap_or_default();
    let selects = spec
        .pod_selector
        .as_ref()
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default();
    assert!(!selects.is_empty() && selects.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_string()]));
    let ingress = spec.ingress.unwrap_or_default();
    assert_eq!(ingress.len(), 1);
    let ports = ingress[0].ports.clone().unwrap_or_default();
    assert_eq!(ports.len(), 1);
    assert_eq!(
        ports[0].port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(DEFAULT_PORT.into()))
    );
    let from = ingress[0].from.clone().unwrap_or_default();
    assert!(
        !from.is_empty() && from.iter().all(|p| p.namespace_selector.is_some()),
        "{from:?}"
    );
}

#[test]
fn rbac_grants_exactly_what_the_agent_uses() {
    let docs = documents("mus-daemonset.yaml");
    let role: ClusterRole = named(&docs, "ClusterRole", "mus-agent");
    let binding: ClusterRoleBinding = one(&docs, "ClusterRoleBinding");
    let sa: ServiceAccount = one(&docs, "ServiceAccount");
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let subjects = binding.subjects.unwrap_or_default();
    assert!(subjects.iter().any(|s| s.kind == "ServiceAccount"
        && Some(&s.name) == sa.metadata.name.as_ref()
        && s.namespace == sa.metadata.namespace));

    let grants = grants_of(role);
    let g = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    // pods list/watch: the watcher; get: `mus-agent boost ns/pod` run in the pod;
    // nodes and namespaces list/watch: the node and namespace watchers;
    // create/patch: kube's event recorder (a repeated Event is patched);
    // cpuboosts: read, and the status subresource patched (server-side apply).
    assert_eq!(
        grants,
        [
            g("", "namespaces", "list"),
            g("", "namespaces", "watch"),
            g("", "nodes", "list"),
            g("", "nodes", "watch"),
            g("", "pods", "get"),
            g("", "pods", "list"),
            g("", "pods", "watch"),
            g("events.k8s.io", "events", "create"),
            g("events.k8s.io", "events", "patch"),
            g("mus.patos.dev", "cpuboosts", "get"),
            g("mus.patos.dev", "cpuboosts", "list"),
            g("mus.patos.dev", "cpuboosts", "watch"),
            g("mus.patos.dev", "cpuboosts/status", "patch"),
        ]
    );
}

#[test]
fn only_a_namespace_an_admin_binds_the_editor_role_in_can_run_boosts() {
    let role: ClusterRole = named(
        &documents("mus-daemonset.yaml"),
        "ClusterRole",
        "mus-boost-editor",
    );
    // Not aggregated into edit/admin: binding it is a decision of its own.
    assert!(role.aggregation_rule.is_none());
    let labels = role.metadata.labels.clone().unwrap_or_default();
    assert!(
        !labels.keys().any(|k| k.contains("aggregate-to")),
        "{labels:?}"
    );
    // The objects, never their status (the agents') or anything else.
    let grants = grants_of(role);
    assert!(!grants.is_empty());
    for (group, resource, verb) in &grants {
        assert_eq!(
            (group.as_str(), resource.as_str()),
            ("mus.patos.dev", "cpuboosts"),
            "{verb}"
        );
    }
    let verbs: Vec<&str> = grants.iter().map(|(_, _, v)| v.as_str()).collect();
    for verb in ["create", "update", "delete"] {
        assert!(verbs.contains(&verb), "{verb}");
    }
}

/// The shipped boost policy: the policy.yaml of the ConfigMap the kustomization
/// generates, which the agent reads.
fn shipped_policy() -> Policy {
    let cm = kustomize::generated_config_maps()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some("mus-policy"))
        .expect("a generated mus-policy ConfigMap");
    let text = cm
        .data
        .and_then(|d| d.get("policy.yaml").cloned())
        .expect("policy.yaml in mus-policy");
    Policy::parse(&text, Path::new("mus-policy")).unwrap_or_else(|e| panic!("{e}"))
}

/// What the shipped policy decides for a pod of `deployment` in `namespace`.
fn granted(
    deployment: &Deployment,
    namespace: &Namespace,
) -> Result<
    Option<mus_agent::daemon::grant::policy::Granted>,
    mus_agent::daemon::grant::refusal::Refusal,
> {
    let template = deployment.spec.template.clone();
    let mut metadata = template.metadata.unwrap_or_default();
    metadata.namespace = deployment.metadata.namespace.clone();
    let pod = k8s_openapi::api::core::v1::Pod {
        metadata,
        spec: template.spec,
        status: None,
    };
    let request = mus_agent::daemon::grant::policy::request(&pod, None);
    shipped_policy().decide(&pod, request, namespace.metadata.labels.as_ref())
}

#[test]
fn redis_is_granted_a_boost_and_on_nodeport_30001_and_the_noise_is_not() {
    let docs = documents("redis.yaml");
    let redis: Deployment = one(&docs, "Deployment");
    let ns: Namespace = one(&docs, "Namespace");
    assert_eq!(redis.metadata.namespace, ns.metadata.name);
    // Through the class the policy grants, in the namespace it selects.
    let grant = granted(&redis, &ns).expect("granted").expect("a boost");
    assert_eq!(
        grant.via,
        mus_agent::daemon::grant::policy::Via::PriorityClass("mus-latency-critical".into())
    );
    assert!(grant.weight > mus_common::Weight::NORMAL);
    // Its CPU limit, which the node cap counts: it fits under the shipped cap on a
    // node of 2 CPUs.
    let template = &redis.spec.template;
    let redis_pod = k8s_openapi::api::core::v1::Pod {
        spec: template.spec.clone(),
        ..Default::default()
    };
    let cap = shipped_policy()
        .node_cap
        .max_cpu_limit_fraction
        .expect("a CPU cap");
    let limit =
        mus_agent::daemon::grant::pod_cpu::pod_cpu_limit_millis(&redis_pod).expect("a limit");
    assert!(limit as f64 <= 2000.0 * cap, "{limit}m");
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
    assert_eq!(
        granted(&noise, &Namespace::default()),
        Ok(None),
        "the noise asks for nothing"
    );
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

#[test]
fn the_committed_crd_is_the_one_the_agent_reads() {
    assert_eq!(
        text("cpuboost-crd.yaml"),
        mus_agent::cpuboost::resource::crd_yaml(),
        "manifests/cpuboost-crd.yaml differs from the Rust type: run `cargo run -p mus-agent -- crd > manifests/cpuboost-crd.yaml`"
    );
    let crd: CustomResourceDefinition =
        one(&documents("cpuboost-crd.yaml"), "CustomResourceDefinition");
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("cpuboosts.mus.patos.dev")
    );
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["cpub".to_string()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Weight", "Expires", "Active", "Reason", "Age"]);
    assert!(
        version
            .subresources
            .as_ref()
            .is_some_and(|s| s.status.is_some())
    );
    let schema = serde_json::to_value(version.schema.as_ref().expect("schema")).expect("json");
    let root = &schema["openAPIV3Schema"]["properties"];
    let spec = &root["spec"];
    assert_eq!(spec["properties"]["weight"]["minimum"], 1.0);
    assert_eq!(spec["properties"]["weight"]["maximum"], 65536.0);
    assert_eq!(spec["properties"]["weight"]["default"], 4096);
    let rules: Vec<&str> = spec["x-kubernetes-validations"]
        .as_array()
        .expect("CEL rules")
        .iter()
        .map(|r| r["rule"].as_str().expect("rule"))
        .collect();
    assert_eq!(
        rules,
        [
            "has(self.selector) != has(self.podName)",
            "has(self.duration) != has(self.until)",
            "!has(self.auto) || has(self.auto.target.waitP99) != has(self.auto.target.psiSomeAvg10)"
        ]
    );
    // Each node's agent owns its item of status.nodes: a list-map keyed by node.
    let nodes = &root["status"]["properties"]["nodes"];
    assert_eq!(nodes["x-kubernetes-list-type"], "map");
    assert_eq!(
        nodes["x-kubernetes-list-map-keys"],
        serde_json::json!(["node"])
    );
}

#[test]
fn mus_agent_crd_prints_the_committed_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mus-agent"))
        .arg("crd")
        .output()
        .expect("run mus-agent crd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        text("cpuboost-crd.yaml")
    );
}

#[test]
fn the_auto_sample_is_valid() {
    let mut boost: mus_agent::cpuboost::CPUBoost =
        serde_saphyr::from_str(&text("examples/cpuboost-redis-auto.yaml"))
            .unwrap_or_else(|e| panic!("the sample: {e}"));
    boost.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-12-04T10:00:00Z".parse().expect("time"),
    ));
    mus_agent::cpuboost::check::check(&boost).expect("a valid boost");
    let settings = mus_agent::cpuboost::check::auto_settings(&boost.spec)
        .expect("valid auto settings")
        .expect("an auto boost");
    assert_eq!(settings.max_weight.get(), boost.spec.weight);
}

#[test]
fn the_sample_boost_is_valid_and_the_shipped_policy_grants_the_redis_demo_it() {
    let sample = text("examples/cpuboost-redis.yaml");
    let mut boost: mus_agent::cpuboost::CPUBoost =
        serde_saphyr::from_str(&sample).unwrap_or_else(|e| panic!("the sample: {e}"));
    // The API server stamps the creation time.
    boost.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-12-04T10:00:00Z".parse().expect("time"),
    ));
    let asked = mus_agent::cpuboost::check::check(&boost).expect("a valid boost");
    let docs = documents("redis.yaml");
    let redis: Deployment = one(&docs, "Deployment");
    let ns: Namespace = one(&docs, "Namespace");
    assert_eq!(boost.metadata.namespace, ns.metadata.name);
    let request = mus_agent::daemon::grant::policy::Request {
        weight: asked.weight,
        via: mus_agent::daemon::grant::policy::Via::Object(asked.boost.clone()),
    };
    shipped_policy()
        .admit(
            &request,
            &asked.boost.namespace,
            ns.metadata.labels.as_ref(),
        )
        .expect("the shipped policy admits the sample");
    let pod = k8s_openapi::api::core::v1::Pod {
        metadata: redis.spec.template.metadata.clone().unwrap_or_default(),
        ..Default::default()
    };
    assert!(
        asked.target.selects(&pod),
        "the sample selects the Redis pods"
    );
}
