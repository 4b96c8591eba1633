//! The `CPUBoost` custom resource (`mus.patos.dev/v1alpha1`): a time-bound boost of
//! the pods it selects in its namespace, with a reason. Its CRD is generated from
//! these types ([`crd_yaml`]) and committed as `manifests/cpuboost-crd.yaml`; the
//! API server checks the OpenAPI schema and the CEL rules below, the daemon checks
//! the rest (an `until` in the past, the boost policy: [`super::check`]).
//!
//! Every field but the target, `reason` and one expiry is optional, so that a later
//! field is not a breaking change; `auto` was the first such.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::auto::spec::AutoSpec;
use crate::duration;

/// The default weight: 4x an ordinary cgroup's (1024), the CLI's and the
/// `mus.patos.dev/boost: "true"` annotation's.
pub const DEFAULT_WEIGHT: u32 = 4096;

/// The longest `reason`: a sentence or two for the audit trail, not a document.
pub const MAX_REASON: usize = 512;

/// Boost the CPU weight of pods in this namespace for a while, with a reason.
// Each printcolumn(...) names its type_: clippy reads them as one attribute repeated.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mus.patos.dev",
    version = "v1alpha1",
    kind = "CPUBoost",
    plural = "cpuboosts",
    shortname = "cpub",
    namespaced,
    status = "CPUBoostStatus",
    derive = "PartialEq",
    doc = "A time-bound CPU boost of pods in this namespace, granted by the mus node agents under the cluster's boost policy.",
    printcolumn(
        name = "Weight",
        type_ = "integer",
        json_path = ".spec.weight",
        description = "The map weight asked for (1024 = none, 4096 = 4x)"
    ),
    printcolumn(
        name = "Expires",
        type_ = "string",
        json_path = ".status.expiresAt",
        description = "When the boost ends"
    ),
    printcolumn(
        name = "Active",
        type_ = "integer",
        json_path = ".status.activePods",
        description = "Pods boosted now, on every node"
    ),
    printcolumn(name = "Reason", type_ = "string", json_path = ".spec.reason"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.selector) != has(self.podName)").message("set exactly one of selector and podName"))]
#[x_kube(validation = Rule::new("has(self.duration) != has(self.until)").message("set exactly one of duration and until"))]
#[x_kube(validation = Rule::new("!has(self.auto) || has(self.auto.target.waitP99) != has(self.auto.target.psiSomeAvg10)").message("auto.target: set exactly one of waitP99 and psiSomeAvg10"))]
#[serde(rename_all = "camelCase")]
pub struct CPUBoostSpec {
    /// The pods to boost, by label, in this object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pod to boost, by name, in this object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub pod_name: Option<String>,
    /// Boost this container's cgroup instead of the pod's (every container of the pod otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub container: Option<String>,
    /// The scheduler map's weight: 1024 is an ordinary cgroup, 4096 four times its CPU under contention.
    #[serde(default = "default_weight")]
    #[schemars(range(min = 1, max = 65536))]
    pub weight: u32,
    /// How long from the object's creation, e.g. 30m, 2h, 1h30m, 90s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub duration: Option<String>,
    /// Until when (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Time>,
    /// Let the weight follow the pod's latency between auto.minWeight and
    /// auto.maxWeight (at most weight, which the policy admits) instead of holding weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoSpec>,
    /// Why: who asked and what for (kept with the object, shown by kubectl get).
    #[schemars(length(min = 1, max = 512))]
    pub reason: String,
}

fn default_weight() -> u32 {
    DEFAULT_WEIGHT
}

/// What the node agents report. Each node's agent owns its item of `nodes`
/// (server-side apply, field manager `mus-agent/<node>`); the other fields follow
/// from the object, the policy and `nodes`, so every agent computes the same.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CPUBoostStatus {
    /// Accepted, Refused (with the policy's reason), Active, Expired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The weight granted (absent when refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// When the boost ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// Pods boosted now, on every node.
    #[serde(default)]
    pub active_pods: u32,
    /// Nodes with a pod boosted now.
    #[serde(default)]
    pub active_nodes: u32,
    /// One item per node with a boosted pod, each written by that node's agent; the
    /// other agents remove the item of a node that no longer exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["node".into()]))]
    pub nodes: Vec<NodeBoost>,
}

/// What one node boosts for the object.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct NodeBoost {
    pub node: String,
    /// Pods of the object boosted on this node.
    pub pods: u32,
    /// The weight they are boosted at (an auto boost: the highest its pods hold now).
    pub weight: u32,
    /// An auto boost whose signal this node cannot measure: why, and what it holds instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_problem: Option<String>,
}

/// The CRD as `kubectl apply -f` takes it (`manifests/cpuboost-crd.yaml`).
pub fn crd_yaml() -> String {
    let crd = CPUBoost::crd();
    let yaml = serde_saphyr::to_string(&crd).expect("a CRD serializes");
    format!(
        "# Generated by `mus-agent crd` from crates/mus-agent/src/cpuboost/resource.rs: do not\n# edit; tests/manifests.rs fails when the two differ.\n{yaml}"
    )
}
