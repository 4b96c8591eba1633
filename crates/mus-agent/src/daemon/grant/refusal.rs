//! Why a pod that asks for a boost does not get it: the policy's answer, the node
//! cap's, or another writer's entry on its cgroup. Each reason is a sentence for the
//! pod's Event, a label for the metrics and an Event reason.

use mus_common::CgroupId;

use crate::cpuboost::check::Invalid;
use crate::daemon::grant::annotations::AnnotationError;
use crate::daemon::grant::pod_cpu::Unbounded;

/// How a request reached the policy, as a refusal names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Annotation,
    Object,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Route::Annotation => "boost annotations",
            Route::Object => "CPUBoost objects",
        })
    }
}

/// Why a pod that asks for a boost does not get it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Invalid(AnnotationError),
    #[error(
        "this node's boost policy honours no {route}; ask a cluster admin for a PriorityClass that grants a boost"
    )]
    AnnotationsOff { route: Route },
    #[error(
        "{route} are honoured only in namespaces the boost policy selects, and namespace {namespace} is not one; ask a cluster admin"
    )]
    NamespaceNotSelected { route: Route, namespace: String },
    #[error(
        "PriorityClass {class} grants a boost only in namespaces the boost policy's classNamespaceSelector selects, and namespace {namespace} is not one; ask a cluster admin"
    )]
    ClassNamespaceNotSelected { class: String, namespace: String },
    #[error("weight {asked} is above the boost policy's maxWeight {max}")]
    OverMaxWeight { asked: u32, max: u32 },
    #[error("this node already boosts {max} pods, the boost policy's nodeCap.maxPods")]
    NodeMaxPods { max: u32 },
    #[error(
        "this node already boosts {max} pods of namespace {namespace}, the boost policy's nodeCap.maxPodsPerNamespace"
    )]
    NamespaceMaxPods { namespace: String, max: u32 },
    #[error(
        "the pod's CPU limit ({asked_millis}m) would take this node's boosted CPU limits past the boost policy's cap ({used_millis}m of {limit_millis}m used)"
    )]
    NodeCpuFraction {
        asked_millis: u64,
        used_millis: u64,
        limit_millis: u64,
    },
    #[error(
        "the boost policy caps the CPU boosted pods can take, and this pod's is not bounded: {0} (set a CPU limit on every container, or a pod-level one)"
    )]
    UnboundedCpu(Unbounded),
    #[error(
        "the boost policy caps the CPU boosted pods can take, and this node's allocatable CPU is not known yet"
    )]
    NodeCpuUnknown,
    #[error(
        "cgroup ID {cgroup} already has an entry written by {writer} (weight {weight}); mus-agent leaves it alone (remove it with `mus-agent unboost --id {cgroup}`, adding --force if another daemon wrote it, to let this pod's grant apply)"
    )]
    HeldByOther {
        cgroup: CgroupId,
        writer: String,
        weight: u32,
    },
    /// A CPUBoost object that cannot be run, whatever the policy.
    #[error(transparent)]
    InvalidBoost(Invalid),
}

impl Refusal {
    /// Every [`Refusal::label`], so that the metrics show each reason at 0 too.
    pub const LABELS: [&'static str; 11] = [
        "invalid_annotation",
        "annotations_off",
        "namespace_not_selected",
        "over_max_weight",
        "node_max_pods",
        "namespace_max_pods",
        "node_cpu_fraction",
        "no_cpu_limit",
        "node_cpu_unknown",
        "held_by_other",
        "invalid_boost",
    ];

    /// The `reason` label of `mus_agent_boosts_refused`.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "invalid_annotation",
            Refusal::AnnotationsOff { .. } => "annotations_off",
            Refusal::NamespaceNotSelected { .. } | Refusal::ClassNamespaceNotSelected { .. } => {
                "namespace_not_selected"
            }
            Refusal::OverMaxWeight { .. } => "over_max_weight",
            Refusal::NodeMaxPods { .. } => "node_max_pods",
            Refusal::NamespaceMaxPods { .. } => "namespace_max_pods",
            Refusal::NodeCpuFraction { .. } => "node_cpu_fraction",
            Refusal::UnboundedCpu(_) => "no_cpu_limit",
            Refusal::NodeCpuUnknown => "node_cpu_unknown",
            Refusal::HeldByOther { .. } => "held_by_other",
            Refusal::InvalidBoost(_) => "invalid_boost",
        }
    }

    /// The Kubernetes Event's reason.
    pub fn event_reason(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "InvalidBoostAnnotation",
            Refusal::HeldByOther { .. } => "BoostHeldByOther",
            _ => "BoostRefused",
        }
    }
}
