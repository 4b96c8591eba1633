//! The boost policy: which pods `mus-agent watch` may boost, and how much. It is
//! the cluster admins' (a file, mounted from a ConfigMap in `mus-system`, passed as
//! `--policy PATH`), so that a tenant who can edit its own pods cannot grant itself
//! a boost. `writeups/policy.md` is the design; `manifests/mus-admission.yaml`
//! enforces the same rules at the API server.
//!
//! Two routes to a boost, both decided by the admin:
//! - `priorityClasses`: a pod whose `priorityClassName` is listed gets that weight
//!   (in the namespaces `classNamespaceSelector` selects, if set). PriorityClasses
//!   are cluster-scoped and a pod's class cannot change after creation, so this
//!   grant cannot be taken by editing a pod; who may create pods of the class is
//!   the selector's and the admission policy's business.
//! - `annotations.namespaceSelector`: the `mus.patos.dev/*` annotations are honoured
//!   only in namespaces whose labels match (labels on a Namespace are the admins').
//!
//! Every granted weight is at most `maxWeight`, and `nodeCap` bounds what one node
//! boosts at once (pods, and their CPU requests as a fraction of the node's
//! allocatable CPU). Without a policy nothing is boosted: secure by default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use mus_common::{CgroupId, Weight};
use serde::Deserialize;

use crate::daemon::annotations::{self, AnnotationError};

/// The policy file as written (YAML or JSON); see [`Policy::load`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyFile {
    max_weight: Option<u64>,
    #[serde(default)]
    priority_classes: BTreeMap<String, u64>,
    class_namespace_selector: Option<Selector>,
    annotations: Option<AnnotationsFile>,
    node_cap: Option<NodeCapFile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AnnotationsFile {
    namespace_selector: Selector,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NodeCapFile {
    max_pods: Option<u32>,
    max_cpu_request_fraction: Option<f64>,
}

/// A Kubernetes label selector (`matchLabels` and `matchExpressions`, ANDed; an
/// empty selector matches every namespace, as in Kubernetes).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl Selector {
    /// The selector if every expression is well formed, else (field, reason).
    fn validated(self, field: &str) -> Result<Selector, (String, String)> {
        for (i, r) in self.match_expressions.iter().enumerate() {
            let with_values = matches!(r.operator, Operator::In | Operator::NotIn);
            if with_values == r.values.is_empty() {
                return Err((
                    format!("{field}.matchExpressions[{i}]"),
                    format!(
                        "operator {:?} {} values",
                        r.operator,
                        if with_values { "needs" } else { "takes no" }
                    ),
                ));
            }
        }
        Ok(self)
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    Operator::In => value.is_some_and(|v| r.values.contains(v)),
                    Operator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// The node-wide cap: at most this much boosted at once on one node.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeCap {
    pub max_pods: Option<u32>,
    /// Of the node's allocatable CPU, by the boosted pods' CPU requests.
    pub max_cpu_request_fraction: Option<f64>,
}

/// A validated policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub max_weight: Weight,
    pub priority_classes: BTreeMap<String, Weight>,
    /// Where class grants apply (`None`: in every namespace).
    pub class_namespaces: Option<Selector>,
    /// `None`: annotations are honoured nowhere.
    pub annotation_namespaces: Option<Selector>,
    pub node_cap: NodeCap,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "cannot read the boost policy {path}: {error} (check --policy and the ConfigMap mount)"
    )]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the boost policy {path} is not valid YAML for a policy: {message} (see writeups/policy.md for the format)"
    )]
    Parse { path: PathBuf, message: String },
    #[error("the boost policy {path}: {field}: {reason}")]
    Invalid {
        path: PathBuf,
        field: String,
        reason: String,
    },
}

impl Default for Policy {
    /// No policy: nothing is boosted (no class granted, no annotation honoured).
    fn default() -> Policy {
        Policy {
            max_weight: Weight::HIGH_DEFAULT,
            priority_classes: BTreeMap::new(),
            class_namespaces: None,
            annotation_namespaces: None,
            node_cap: NodeCap::default(),
        }
    }
}

/// A Kubernetes object name (DNS subdomain): what a PriorityClass may be called.
fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

impl Policy {
    /// Reads and validates the policy at `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|error| PolicyError::Read {
            path: path.into(),
            error,
        })?;
        Policy::parse(&text, path)
    }

    /// Validates the policy `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        // An empty file (or one of comments only) is the empty policy.
        let file: PolicyFile = if text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        }) {
            PolicyFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| PolicyError::Parse {
                path: path.into(),
                // The parser's first line says what and where; the code frame
                // after it does not fit a one-line error.
                message: e.to_string().lines().next().unwrap_or_default().to_string(),
            })?
        };
        let invalid = |field: &str, reason: String| PolicyError::Invalid {
            path: path.into(),
            field: field.into(),
            reason,
        };
        let max_weight = match file.max_weight {
            None => Weight::HIGH_DEFAULT,
            Some(w) => Weight::new(w).map_err(|e| invalid("maxWeight", e.to_string()))?,
        };
        let mut priority_classes = BTreeMap::new();
        for (name, w) in file.priority_classes {
            let field = format!("priorityClasses.{name}");
            if !is_dns_subdomain(&name) {
                return Err(invalid(
                    &field,
                    "not a PriorityClass name (lowercase letters, digits, '-' and '.')".into(),
                ));
            }
            let weight = Weight::new(w).map_err(|e| invalid(&field, e.to_string()))?;
            if weight > max_weight {
                return Err(invalid(
                    &field,
                    format!(
                        "weight {w} is above maxWeight {max_weight}: raise maxWeight or lower the class's weight",
                        max_weight = max_weight.get()
                    ),
                ));
            }
            priority_classes.insert(name, weight);
        }
        let class_namespaces = file
            .class_namespace_selector
            .map(|sel| {
                sel.validated("classNamespaceSelector")
                    .map_err(|(f, r)| invalid(&f, r))
            })
            .transpose()?;
        let annotation_namespaces = file
            .annotations
            .map(|a| {
                a.namespace_selector
                    .validated("annotations.namespaceSelector")
                    .map_err(|(f, r)| invalid(&f, r))
            })
            .transpose()?;
        let mut node_cap = NodeCap::default();
        if let Some(cap) = file.node_cap {
            if let Some(f) = cap.max_cpu_request_fraction
                && !(f > 0.0 && f <= 1.0)
            {
                return Err(invalid(
                    "nodeCap.maxCpuRequestFraction",
                    format!(
                        "{f} is not a fraction of the node's CPU: use a number above 0, at most 1"
                    ),
                ));
            }
            node_cap = NodeCap {
                max_pods: cap.max_pods,
                max_cpu_request_fraction: cap.max_cpu_request_fraction,
            };
        }
        Ok(Policy {
            max_weight,
            priority_classes,
            class_namespaces,
            annotation_namespaces,
            node_cap,
        })
    }

    /// Whether this policy can boost anything at all.
    pub fn grants_nothing(&self) -> bool {
        self.priority_classes.is_empty() && self.annotation_namespaces.is_none()
    }

    /// What `pod` gets under this policy, before the node cap: `Ok(None)` when it
    /// asks for nothing. `namespace_labels` are its namespace's (`None`: unknown).
    pub fn decide(
        &self,
        pod: &Pod,
        namespace_labels: Option<&BTreeMap<String, String>>,
    ) -> Result<Option<Granted>, Refusal> {
        let class = pod
            .spec
            .as_ref()
            .and_then(|s| s.priority_class_name.as_deref());
        let selected = |selector: &Selector| namespace_labels.is_some_and(|l| selector.matches(l));
        let not_selected = || Refusal::NamespaceNotSelected {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        };
        if let Some((class, &weight)) = class.and_then(|c| self.priority_classes.get_key_value(c)) {
            if self.class_namespaces.as_ref().is_some_and(|s| !selected(s)) {
                return Err(not_selected());
            }
            return Ok(Some(Granted {
                weight,
                via: Via::PriorityClass(class.clone()),
            }));
        }
        let Some(weight) = annotations::requested_weight(pod).map_err(Refusal::Invalid)? else {
            return Ok(None);
        };
        let Some(selector) = &self.annotation_namespaces else {
            return Err(Refusal::AnnotationsOff);
        };
        if !selected(selector) {
            return Err(not_selected());
        }
        if weight > self.max_weight {
            return Err(Refusal::OverMaxWeight {
                asked: weight.get(),
                max: self.max_weight.get(),
            });
        }
        Ok(Some(Granted {
            weight,
            via: Via::Annotation,
        }))
    }

    /// Applies the node cap to `candidates` (granted and resolved): which keep
    /// their boost, and which are refused. Boosts the map already holds go first
    /// (a new pod never evicts a running boost), then the oldest pods, so the
    /// outcome does not flap between passes. `allocatable_millis` is the node's
    /// allocatable CPU (`None`: not known yet, so a CPU cap refuses everything).
    pub fn cap(
        &self,
        mut candidates: Vec<Candidate>,
        allocatable_millis: Option<u64>,
    ) -> (Vec<Candidate>, Vec<(Candidate, Refusal)>) {
        candidates.sort_by(|a, b| {
            (!a.held, &a.created, &a.cgroup).cmp(&(!b.held, &b.created, &b.cgroup))
        });
        let limit = self
            .node_cap
            .max_cpu_request_fraction
            .map(|f| allocatable_millis.map(|a| (a as f64 * f) as u64));
        let (mut kept, mut refused) = (Vec::new(), Vec::new());
        let mut used_millis = 0;
        for c in candidates {
            let refusal = if self
                .node_cap
                .max_pods
                .is_some_and(|max| kept.len() >= max as usize)
            {
                Some(Refusal::NodeMaxPods {
                    max: self.node_cap.max_pods.unwrap_or_default(),
                })
            } else {
                match (limit, c.cpu_request_millis) {
                    (None, _) => None,
                    (Some(None), _) => Some(Refusal::NodeCpuUnknown),
                    (Some(Some(_)), None) => Some(Refusal::NoCpuRequest),
                    (Some(Some(limit)), Some(asked)) if used_millis + asked > limit => {
                        Some(Refusal::NodeCpuFraction {
                            asked_millis: asked,
                            used_millis,
                            limit_millis: limit,
                        })
                    }
                    (Some(Some(_)), Some(asked)) => {
                        used_millis += asked;
                        None
                    }
                }
            };
            match refusal {
                Some(r) => refused.push((c, r)),
                None => kept.push(c),
            }
        }
        (kept, refused)
    }
}

/// How a boost was granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    PriorityClass(String),
    Annotation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    pub weight: Weight,
    pub via: Via,
}

/// A granted pod, resolved to its cgroup, before the node cap.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub cgroup: CgroupId,
    /// The map holds this daemon's entry for it already.
    pub held: bool,
    /// `metadata.creationTimestamp` (RFC 3339 sorts in time order), if any.
    pub created: Option<String>,
    /// The sum of its containers' CPU requests; `None` if one has none or an
    /// unreadable one.
    pub cpu_request_millis: Option<u64>,
}

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

/// A CPU quantity in millicores: `250m`, `2`, `0.5`; `None` for other forms.
pub fn cpu_millis(q: &Quantity) -> Option<u64> {
    let s = q.0.trim();
    if let Some(m) = s.strip_suffix('m') {
        return m.parse().ok();
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = format!("{frac:0<3}").parse().ok()?;
    whole.checked_mul(1000)?.checked_add(frac)
}

/// The sum of `pod`'s containers' CPU requests, `None` if one has none.
pub fn pod_cpu_request_millis(pod: &Pod) -> Option<u64> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().try_fold(0u64, |sum, c| {
        let q = c.resources.as_ref()?.requests.as_ref()?.get("cpu")?;
        sum.checked_add(cpu_millis(q)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, Path::new("policy.yaml"))
    }

    #[test]
    fn empty_means_nothing_is_granted() {
        for text in ["", "# nothing\n", "{}"] {
            let p = parse(text).expect("valid");
            assert!(p.grants_nothing(), "{text:?}");
            assert_eq!(p, Policy::default());
        }
    }

    #[test]
    fn a_full_policy_parses() {
        let p = parse(
            "maxWeight: 16384
priorityClasses:
  latency-critical: 8192
classNamespaceSelector:
  matchExpressions: [{key: tier, operator: Exists}]
annotations:
  namespaceSelector:
    matchLabels: {mus.patos.dev/boost: allowed}
    matchExpressions:
      - {key: tier, operator: NotIn, values: [batch]}
nodeCap:
  maxPods: 4
  maxCpuRequestFraction: 0.5
",
        )
        .expect("valid");
        assert_eq!(p.max_weight.get(), 16384);
        assert_eq!(p.priority_classes["latency-critical"].get(), 8192);
        let sel = p.annotation_namespaces.clone().expect("selector");
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(sel.matches(&labels(&[("mus.patos.dev/boost", "allowed")])));
        assert!(!sel.matches(&labels(&[
            ("mus.patos.dev/boost", "allowed"),
            ("tier", "batch")
        ])));
        assert!(!sel.matches(&labels(&[])));
        assert_eq!(p.node_cap.max_pods, Some(4));
        let classes = p.class_namespaces.expect("class selector");
        assert!(classes.matches(&labels(&[("tier", "web")])));
        assert!(!classes.matches(&labels(&[])));
    }

    #[test]
    fn mistakes_are_named_with_their_field() {
        let err = |text: &str| parse(text).expect_err(text).to_string();
        assert!(err("maxWeight: 0").contains("maxWeight: weight 0 is out of range"));
        assert!(
            err("maxWieght: 4096").contains("unknown field"),
            "{}",
            err("maxWieght: 4096")
        );
        assert!(
            err("priorityClasses: {Latency: 4096}")
                .contains("priorityClasses.Latency: not a PriorityClass name")
        );
        assert!(
            err("priorityClasses: {critical: 65536}").contains("above maxWeight 4096"),
            "the default maxWeight is the default boost"
        );
        assert!(
            err("nodeCap: {maxCpuRequestFraction: 1.5}").contains("nodeCap.maxCpuRequestFraction")
        );
        assert!(
            err("annotations: {namespaceSelector: {matchExpressions: [{key: a, operator: In}]}}")
                .contains("operator In needs values")
        );
        assert!(err("annotations: {}").contains("namespaceSelector"));
    }

    #[test]
    fn cpu_quantities() {
        let q = |s: &str| cpu_millis(&Quantity(s.into()));
        assert_eq!(q("250m"), Some(250));
        assert_eq!(q("2"), Some(2000));
        assert_eq!(q("0.5"), Some(500));
        assert_eq!(q("1.25"), Some(1250));
        assert_eq!(q("1e3"), None);
        assert_eq!(q("0.0001"), None);
    }

    fn candidate(id: u64, held: bool, created: &str, cpu: Option<u64>) -> Candidate {
        Candidate {
            cgroup: CgroupId(id),
            held,
            created: Some(created.into()),
            cpu_request_millis: cpu,
        }
    }

    #[test]
    fn the_cap_keeps_held_boosts_then_the_oldest() {
        let policy = Policy {
            node_cap: NodeCap {
                max_pods: Some(2),
                max_cpu_request_fraction: None,
            },
            ..Policy::default()
        };
        let (kept, refused) = policy.cap(
            vec![
                candidate(1, false, "2026-01-01T00:00:00Z", None),
                candidate(2, true, "2026-03-01T00:00:00Z", None),
                candidate(3, false, "2026-02-01T00:00:00Z", None),
            ],
            None,
        );
        let ids: Vec<u64> = kept.iter().map(|c| c.cgroup.0).collect();
        assert_eq!(ids, [2, 1]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0.cgroup, CgroupId(3));
        assert_eq!(refused[0].1, Refusal::NodeMaxPods { max: 2 });
    }

    #[test]
    fn the_cpu_cap_counts_requests_against_allocatable() {
        let policy = Policy {
            node_cap: NodeCap {
                max_pods: None,
                max_cpu_request_fraction: Some(0.5),
            },
            ..Policy::default()
        };
        let pods = vec![
            candidate(1, false, "2026-01-01T00:00:00Z", Some(600)),
            candidate(2, false, "2026-01-02T00:00:00Z", Some(500)),
            candidate(3, false, "2026-01-03T00:00:00Z", None),
            candidate(4, false, "2026-01-04T00:00:00Z", Some(400)),
        ];
        let (kept, refused) = policy.cap(pods.clone(), Some(2000));
        let ids: Vec<u64> = kept.iter().map(|c| c.cgroup.0).collect();
        assert_eq!(ids, [1, 4], "600m + 400m = the 1000m half of 2 CPUs");
        let why: Vec<&str> = refused.iter().map(|(_, r)| r.label()).collect();
        assert_eq!(why, ["node_cpu_fraction", "no_cpu_request"]);
        let (kept, refused) = policy.cap(pods, None);
        assert!(kept.is_empty());
        assert!(refused.iter().all(|(_, r)| *r == Refusal::NodeCpuUnknown));
    }
}
