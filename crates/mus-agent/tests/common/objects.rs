//! Kubernetes objects as the fake API server sends them: pods with containers in a
//! given state, Nodes, Namespaces, lists, watch events and error Statuses.

use std::collections::BTreeMap;

use k8s_openapi::List;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Namespace, Node, NodeStatus, NodeSystemInfo, Pod,
    PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Status, WatchEvent};

/// How a test container is doing.
#[derive(Clone, Copy)]
pub enum State {
    Running,
    Waiting,
    Terminated,
    NoStatus,
}

pub struct PodSpecOf<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub node: &'a str,
    pub qos: &'a str,
    pub phase: &'a str,
    /// (container name, container ID, state)
    pub containers: Vec<(&'a str, &'a str, State)>,
}

pub fn pod(p: PodSpecOf<'_>) -> Pod {
    let statuses = p
        .containers
        .iter()
        .filter(|(_, _, s)| !matches!(s, State::NoStatus))
        .map(|(name, id, state)| ContainerStatus {
            name: name.to_string(),
            container_id: Some(id.to_string()),
            image: "registry.local/app:1".into(),
            image_id: "sha256:00".into(),
            ready: matches!(state, State::Running),
            restart_count: 0,
            state: Some(match state {
                State::Running => ContainerState {
                    running: Some(ContainerStateRunning::default()),
                    ..Default::default()
                },
                State::Waiting => ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some("CrashLoopBackOff".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                State::Terminated | State::NoStatus => ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        reason: Some("Completed".into()),
                        exit_code: 0,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            }),
            ..Default::default()
        })
        .collect();
    Pod {
        metadata: ObjectMeta {
            name: Some(p.name.into()),
            namespace: Some(p.namespace.into()),
            uid: Some(p.uid.into()),
            resource_version: Some("10".into()),
            labels: Some(BTreeMap::from([("app".to_string(), p.name.to_string())])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(p.node.into()),
            containers: p
                .containers
                .iter()
                .map(|(name, _, _)| Container {
                    name: name.to_string(),
                    image: Some("registry.local/app:1".into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(p.phase.into()),
            qos_class: Some(p.qos.into()),
            container_statuses: Some(statuses),
            ..Default::default()
        }),
    }
}

/// A Node with `cpu` allocatable and boot ID `boot`.
pub fn a_node(name: &str, cpu: &str, boot: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        status: Some(NodeStatus {
            allocatable: Some(BTreeMap::from([("cpu".to_string(), Quantity(cpu.into()))])),
            node_info: Some(NodeSystemInfo {
                boot_id: boot.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A Namespace with `labels`.
pub fn a_namespace(name: &str, labels: &[(&str, &str)]) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            resource_version: Some("1".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A Kubernetes list of `items` (Pods, Nodes, Namespaces), as a LIST answers.
pub fn list<K: serde::Serialize + k8s_openapi::ListableResource>(items: Vec<K>) -> String {
    let list = List::<K> {
        items,
        metadata: ListMeta {
            resource_version: Some("100".into()),
            ..Default::default()
        },
    };
    serde_json::to_string(&list).expect("json")
}

pub fn pod_list(items: Vec<Pod>) -> String {
    list(items)
}

pub fn event(e: WatchEvent<Pod>) -> String {
    serde_json::to_string(&e).expect("json")
}

/// The Status the API server sends with a 403.
pub fn forbidden(verb: &str) -> String {
    let status = Status {
        status: Some("Failure".into()),
        code: Some(403),
        reason: Some("Forbidden".into()),
        message: Some(format!(
            "pods is forbidden: User \"system:serviceaccount:default:mus\" cannot {verb} resource \"pods\" in API group \"\" at the cluster scope"
        )),
        ..Default::default()
    };
    serde_json::to_string(&status).expect("json")
}

pub fn not_found(name: &str) -> String {
    let status = Status {
        status: Some("Failure".into()),
        code: Some(404),
        reason: Some("NotFound".into()),
        message: Some(format!("pods \"{name}\" not found")),
        ..Default::default()
    };
    serde_json::to_string(&status).expect("json")
}

/// A CPUBoost object `namespace/name` created at `created` (RFC 3339), with `spec`
/// as a user writes it.
pub fn a_boost(
    namespace: &str,
    name: &str,
    created: &str,
    spec: serde_json::Value,
) -> mus_agent::cpuboost::CPUBoost {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "mus.patos.dev/v1alpha1",
        "kind": "CPUBoost",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("boost-{name}"),
                     "generation": 1, "creationTimestamp": created},
        "spec": spec,
    }))
    .expect("a CPUBoost")
}
