//! A pod and its containers as this node sees them: the QoS class that places the
//! pod's cgroup, each container's ID and state, one row per container. Plain data
//! read from the Pod objects the API server sends; no I/O.

use std::fmt;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde::Serialize;

/// The annotation the kubelet puts on the mirror pod of a static pod: the static
/// pod's UID (`kubernetes.io/config.hash`), which its cgroup is named after.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// A mirror annotation that is not a kubelet's hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "mirror pod annotation {MIRROR_ANNOTATION}={0:?} is not a kubelet's hash of a static pod (32 hex digits); its cgroup is not looked for"
)]
pub struct BadMirror(pub String);

/// The UID `pod`'s cgroup is named after: its own, or for a mirror pod the
/// kubelet's UID of the static pod, from [`MIRROR_ANNOTATION`]. Only a value of the
/// kubelet's form (an MD5 in hex) is followed: the API server's UIDs have dashes,
/// so a pod that carries the annotation cannot name another API pod's cgroup.
pub fn cgroup_uid(pod: &Pod) -> Result<&str, BadMirror> {
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MIRROR_ANNOTATION));
    match mirror {
        None => Ok(pod.metadata.uid.as_deref().unwrap_or_default()),
        Some(hash)
            if hash.len() == 32
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hash)
        }
        Some(other) => Err(BadMirror(other.clone())),
    }
}

/// QoS class as kubelet uses it to place the pod's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    /// The class in the pod's status; `None` until the kubelet has set one.
    pub fn of(pod: &Pod) -> Option<QosClass> {
        QosClass::parse(pod.status.as_ref()?.qos_class.as_deref()?)
    }

    fn parse(s: &str) -> Option<QosClass> {
        match s {
            "Guaranteed" => Some(QosClass::Guaranteed),
            "Burstable" => Some(QosClass::Burstable),
            "BestEffort" => Some(QosClass::BestEffort),
            _ => None,
        }
    }
}

impl fmt::Display for QosClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A container ID as the kubelet reports it: `<runtime>://<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ContainerId {
    /// `containerd`, `cri-o`, `docker`, … (whatever the CRI runtime calls itself).
    pub runtime: String,
    pub id: String,
}

impl ContainerId {
    pub fn parse(s: &str) -> Option<ContainerId> {
        let (runtime, id) = s.split_once("://")?;
        let valid = !runtime.is_empty()
            && !id.is_empty()
            // The ID becomes a path component: refuse anything that could walk the tree.
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        valid.then(|| ContainerId {
            runtime: runtime.to_string(),
            id: id.to_string(),
        })
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.runtime, self.id)
    }
}

/// What the container is doing now, from its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "lowercase")]
pub enum ContainerState {
    Running,
    Waiting(String),
    Terminated(String),
    /// The kubelet has not reported on it yet.
    Unknown,
}

impl ContainerState {
    fn of(status: Option<&ContainerStatus>) -> ContainerState {
        let Some(state) = status.and_then(|s| s.state.as_ref()) else {
            return ContainerState::Unknown;
        };
        if state.running.is_some() {
            ContainerState::Running
        } else if let Some(t) = &state.terminated {
            ContainerState::Terminated(t.reason.clone().unwrap_or_default())
        } else if let Some(w) = &state.waiting {
            ContainerState::Waiting(w.reason.clone().unwrap_or_default())
        } else {
            ContainerState::Unknown
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, ContainerState::Running)
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (word, reason) = match self {
            ContainerState::Running => return f.write_str("running"),
            ContainerState::Unknown => return f.write_str("unknown"),
            ContainerState::Waiting(r) => ("waiting", r),
            ContainerState::Terminated(r) => ("terminated", r),
        };
        if reason.is_empty() {
            f.write_str(word)
        } else {
            write!(f, "{word} ({reason})")
        }
    }
}

/// One container of one pod of this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerRow {
    pub namespace: String,
    pub pod: String,
    pub pod_uid: String,
    /// The UID the pod's cgroup directory is named after: `pod_uid`, or for a
    /// static pod's mirror the kubelet's hash ([`cgroup_uid`]). A mirror annotation
    /// that is not a kubelet hash leaves `pod_uid`, which names no cgroup, so the
    /// pod shows as not found rather than as another pod's cgroup.
    #[serde(skip)]
    pub cgroup_uid: String,
    pub container: String,
    pub phase: String,
    /// `None` when the pod's status has no QoS class yet; resolution then tries all.
    pub qos: Option<QosClass>,
    pub container_id: Option<ContainerId>,
    pub state: ContainerState,
}

impl ContainerRow {
    /// `namespace/pod/container`, the CLI's TARGET spelling.
    pub fn target(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.pod, self.container)
    }
}

/// The rows of one pod: one per container of its spec, in spec order, each joined
/// to its status (a container without status yet is `Unknown`, not dropped).
pub fn rows_of_pod(pod: &Pod) -> Vec<ContainerRow> {
    let meta = &pod.metadata;
    let status = pod.status.as_ref();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .map(|c| {
            let cs = statuses.iter().find(|s| s.name == c.name);
            ContainerRow {
                namespace: meta.namespace.clone().unwrap_or_default(),
                pod: meta.name.clone().unwrap_or_default(),
                pod_uid: meta.uid.clone().unwrap_or_default(),
                cgroup_uid: cgroup_uid(pod)
                    .unwrap_or_else(|_| meta.uid.as_deref().unwrap_or_default())
                    .to_string(),
                container: c.name.clone(),
                phase: status
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_else(|| "Unknown".into()),
                qos: QosClass::of(pod),
                container_id: cs
                    .and_then(|s| s.container_id.as_deref())
                    .and_then(ContainerId::parse),
                state: ContainerState::of(cs),
            }
        })
        .collect()
}

/// Rows of many pods, sorted by namespace, pod, then spec order.
pub fn rows_of_pods<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Vec<ContainerRow> {
    let mut pods: Vec<&Pod> = pods.into_iter().collect();
    pods.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    pods.into_iter().flat_map(rows_of_pod).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "1f2e3d4c-0000-4b5a-9c8d-7e6f5a4b3c2d";

    #[test]
    fn a_mirror_pod_names_its_static_pods_cgroup() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let pod = |mirror: Option<&str>| Pod {
            metadata: ObjectMeta {
                uid: Some(UID.into()),
                annotations: mirror
                    .map(|m| [(MIRROR_ANNOTATION.to_string(), m.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(cgroup_uid(&pod(None)).ok(), Some(UID));
        let hash = "6a3f1c9e0b2d4f5a8c7e9d1b3a5f7c2e";
        assert_eq!(cgroup_uid(&pod(Some(hash))).ok(), Some(hash));
        // Another API pod's UID (dashes) or a path: not followed.
        for bad in [UID, "../../etc", "6A3F1C9E0B2D4F5A8C7E9D1B3A5F7C2E", ""] {
            assert!(
                matches!(cgroup_uid(&pod(Some(bad))), Err(BadMirror(_))),
                "{bad:?}"
            );
        }
    }
}
