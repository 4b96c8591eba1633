//! Why a pod that asks for a boost does not get it: the policy's answer, the node
//! cap's, or another writer's entry on its cgroup. Each reason is a sentence for the
//! pod's Event, a label for the metrics and an Event reason.

use mus_common::CgroupId;

use crate::daemon::annotations::AnnotationError;

/// Why a pod that asks for a boost does not get it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Invalid(AnnotationError),
    #[error(
        "this node's boost policy honours no boost annotations; ask a cluster admin for a PriorityClass that grants a boost"
    )]
    AnnotationsOff,
    #[error(
        "boost annotations are honoured only in namespaces the boost policy selects, and namespace {namespace} is not one; ask a cluster admin"
    )]
    NamespaceNotSelected { namespace: String },
    #[error("weight {asked} is above the boost policy's maxWeight {max}")]
    OverMaxWeight { asked: u32, max: u32 },
    #[error("this node already boosts {max} pods, the boost policy's nodeCap.maxPods")]
    NodeMaxPods { max: u32 },
    #[error(
        "the pod's CPU request ({asked_millis}m) would take this node's boosted CPU requests past the boost policy's cap ({used_millis}m of {limit_millis}m used)"
    )]
    NodeCpuFraction {
        asked_millis: u64,
        used_millis: u64,
        limit_millis: u64,
    },
    #[error(
        "the boost policy caps boosted CPU requests and this pod's containers do not all request CPU"
    )]
    NoCpuRequest,
    #[error(
        "the boost policy caps boosted CPU requests and this node's allocatable CPU is not known yet"
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
}

impl Refusal {
    /// The `reason` label of `mus_agent_refused_boosts`.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "invalid_annotation",
            Refusal::AnnotationsOff => "annotations_off",
            Refusal::NamespaceNotSelected { .. } => "namespace_not_selected",
            Refusal::OverMaxWeight { .. } => "over_max_weight",
            Refusal::NodeMaxPods { .. } => "node_max_pods",
            Refusal::NodeCpuFraction { .. } => "node_cpu_fraction",
            Refusal::NoCpuRequest => "no_cpu_request",
            Refusal::NodeCpuUnknown => "node_cpu_unknown",
            Refusal::HeldByOther { .. } => "held_by_other",
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
