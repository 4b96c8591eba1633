//! What the daemon keeps of the pods and namespaces it watches: the fields a pass
//! reads, nothing else. Every object stays in a reflector's store for as long as it
//! exists, so a tenant's 1.5 KB annotation on each of 20,000 namespaces, or
//! `managedFields` on every pod, would otherwise sit in the agent's memory (which
//! its container limits) for good.
//!
//! A pass reads of a pod: its name, namespace, UID, creation time, labels (which
//! CPUBoost objects select it) and the project's annotations; the node it runs on, its PriorityClass and what its
//! containers, sidecars, overhead and pod-level resources ask for (the node cap);
//! its phase and QoS class (which place its cgroup), and its containers' IDs (a
//! container's cgroup, when a CPUBoost names the container). Of a namespace, its labels.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Namespace, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Annotations kept on pods: the project's own, and the kubelet's `config.*` ones,
/// which tell a static pod's mirror (whose UID is not its cgroup's) from others.
const KEPT_ANNOTATION_PREFIXES: [&str; 2] = ["mus.patos.dev/", "kubernetes.io/config."];

/// The identity every kept object needs: the reflector keys objects by namespace
/// and name, and the watcher resumes from the resource version.
fn identity(meta: &mut ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        uid: meta.uid.take(),
        resource_version: meta.resource_version.take(),
        ..ObjectMeta::default()
    }
}

/// A container as the node cap reads it: its name and resources, and for an init
/// container its restart policy (`Always`: a sidecar, in the pod's cgroup).
fn trim_container(c: &mut Container) {
    *c = Container {
        name: std::mem::take(&mut c.name),
        resources: c.resources.take(),
        restart_policy: c.restart_policy.take(),
        ..Container::default()
    };
}

/// Drops from `pod` what no pass reads.
pub fn trim_pod(pod: &mut Pod) {
    let mut meta = identity(&mut pod.metadata);
    meta.creation_timestamp = pod.metadata.creation_timestamp.take();
    meta.labels = pod.metadata.labels.take();
    meta.annotations = pod.metadata.annotations.take().map(|all| {
        all.into_iter()
            .filter(|(k, _)| KEPT_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect()
    });
    pod.metadata = meta;
    pod.spec = pod.spec.take().map(|mut s| {
        s.containers.iter_mut().for_each(trim_container);
        let mut init = s.init_containers.take();
        init.iter_mut().flatten().for_each(trim_container);
        PodSpec {
            node_name: s.node_name,
            priority_class_name: s.priority_class_name,
            containers: s.containers,
            init_containers: init,
            overhead: s.overhead,
            resources: s.resources,
            ..PodSpec::default()
        }
    });
    pod.status = pod.status.take().map(|s| PodStatus {
        phase: s.phase,
        qos_class: s.qos_class,
        // Each container's name and ID: a CPUBoost naming a container boosts its cgroup.
        container_statuses: s.container_statuses.map(|all| {
            all.into_iter()
                .map(|c| ContainerStatus {
                    name: c.name,
                    container_id: c.container_id,
                    ..ContainerStatus::default()
                })
                .collect()
        }),
        ..PodStatus::default()
    });
}

/// Drops from `namespace` all but its identity and labels.
pub fn trim_namespace(namespace: &mut Namespace) {
    let mut meta = identity(&mut namespace.metadata);
    meta.labels = namespace.metadata.labels.take();
    *namespace = Namespace {
        metadata: meta,
        ..Namespace::default()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use mus_common::CgroupId;

    use crate::cpuboost::select::Selection;
    use crate::daemon::grant::policy::Policy;
    use crate::daemon::grant::wishes::{Context, wishes};

    /// A pod as the API server sends it, with much the daemon does not read.
    fn full_pod(name: &str, annotations: &[(&str, &str)], class: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": name},
                "annotations": annotations.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                    .chain([("kubectl.kubernetes.io/last-applied-configuration".to_string(),
                             serde_json::json!("x".repeat(1500)))])
                    .collect::<serde_json::Map<_, _>>(),
                "managedFields": [{"manager": "kubectl", "operation": "Apply",
                                   "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": "rs", "uid": "rs-uid"}]
            },
            "spec": {
                "nodeName": "node-a",
                "priorityClassName": class,
                "overhead": {"cpu": "50m"},
                "containers": [{
                    "name": "app", "image": "registry.local/app:1",
                    "env": [{"name": "BIG", "value": "y".repeat(1000)}],
                    "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}
                }],
                "initContainers": [{
                    "name": "proxy", "image": "registry.local/proxy:1", "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}}
                }],
                "volumes": [{"name": "data", "emptyDir": {}}]
            },
            "status": {
                "phase": "Running", "qosClass": "Burstable", "podIP": "10.0.0.7",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "image": "registry.local/app:1",
                    "imageID": "sha256:00", "ready": true, "restartCount": 0,
                    "containerID": "containerd://aa01", "state": {"running": {}}}]
            }
        }))
        .expect("pod")
    }

    fn trimmed(mut pod: Pod) -> Pod {
        trim_pod(&mut pod);
        pod
    }

    #[test]
    fn a_trimmed_pod_keeps_what_a_pass_reads() {
        let pod = full_pod(
            "redis",
            &[
                ("mus.patos.dev/weight", "8192"),
                ("kubernetes.io/config.hash", "abc"),
            ],
            None,
        );
        let small = trimmed(pod.clone());
        let size = |p: &Pod| serde_json::to_string(p).expect("json").len();
        assert!(
            size(&small) * 4 < size(&pod),
            "{} bytes of {}",
            size(&small),
            size(&pod)
        );
        let annotations = small.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["kubernetes.io/config.hash", "mus.patos.dev/weight"]
        );
        assert!(small.metadata.managed_fields.is_none());
        assert_eq!(small.metadata.resource_version.as_deref(), Some("42"));
        // CPUBoost objects select pods by label.
        assert_eq!(small.metadata.labels, pod.metadata.labels);
        let spec = small.spec.as_ref().expect("spec");
        assert_eq!(
            spec.containers[0].resources,
            pod.spec.as_ref().expect("spec").containers[0].resources
        );
        assert!(spec.containers[0].env.is_none() && spec.volumes.is_none());
        let sidecar = &spec.init_containers.as_ref().expect("init")[0];
        assert_eq!(sidecar.restart_policy.as_deref(), Some("Always"));
        assert!(spec.overhead.is_some());
        let status = small.status.as_ref().expect("status");
        assert_eq!(status.qos_class.as_deref(), Some("Burstable"));
        assert!(status.pod_ip.is_none());
        let kept = &status.container_statuses.as_ref().expect("statuses")[0];
        assert_eq!(
            (kept.name.as_str(), kept.container_id.as_deref()),
            ("app", Some("containerd://aa01"))
        );
        assert!(kept.state.is_none());
    }

    #[test]
    fn a_pass_grants_and_refuses_trimmed_pods_as_it_does_whole_ones() {
        let policy = Policy::parse(
            "maxWeight: 8192
priorityClasses: {critical: 4096}
annotations: {namespaceSelector: {matchLabels: {boost: allowed}}}
nodeCap: {maxCpuLimitFraction: 0.5}
",
            Path::new("test"),
        )
        .expect("policy");
        let pods = [
            full_pod("redis", &[("mus.patos.dev/weight", "2048")], None),
            full_pod("greedy", &[("mus.patos.dev/weight", "65536")], None),
            full_pod("classy", &[], Some("critical")),
            full_pod("bad", &[("mus.patos.dev/boost", "maybe")], None),
            full_pod("plain", &[], None),
        ];
        let namespaces = BTreeMap::from([(
            "shop".to_string(),
            BTreeMap::from([("boost".to_string(), "allowed".to_string())]),
        )]);
        let ctx = Context {
            node: "node-a",
            policy: &policy,
            namespaces: &namespaces,
            allocatable_millis: Some(8000),
            held: &BTreeSet::new(),
            boosts: &Selection::default(),
        };
        let resolve =
            |uid: &str, _, _: Option<&_>| Ok((PathBuf::from(uid), CgroupId(uid.len() as u64)));
        let whole = wishes(&pods, &ctx, resolve);
        let small: Vec<Pod> = pods.iter().cloned().map(trimmed).collect();
        assert_eq!(wishes(&small, &ctx, resolve), whole);
        assert!(!whole.desired.is_empty() && !whole.refused.is_empty());
    }

    #[test]
    fn a_trimmed_namespace_keeps_its_name_and_labels() {
        let mut ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "shop", "resourceVersion": "7", "labels": {"boost": "allowed"},
                         "annotations": {"note": "z".repeat(1500)},
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}
        }))
        .expect("namespace");
        trim_namespace(&mut ns);
        assert_eq!(
            serde_json::to_value(&ns).expect("json"),
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "shop", "resourceVersion": "7",
                                            "labels": {"boost": "allowed"}}})
        );
    }
}
