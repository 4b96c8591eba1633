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
//! boosts at once (pods, pods of one namespace, and the CPU limits of the boosted
//! pods as a fraction of the node's allocatable CPU: [`crate::daemon::grant::node_cap`]).
//! Without a policy nothing is boosted: secure by default. A selector that a tenant
//! who may label namespaces could satisfy is warned about at start
//! ([`Policy::unprotected_selectors`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use mus_common::Weight;
use serde::Deserialize;

use crate::cpuboost::BoostRef;
use crate::daemon::grant::annotations::{self, NAMESPACE_LABEL};
use crate::daemon::grant::node_cap::NodeCap;
use crate::daemon::grant::refusal::{Refusal, Route};
use crate::daemon::grant::selector::Selector;

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
    max_pods_per_namespace: Option<u32>,
    max_cpu_limit_fraction: Option<f64>,
    /// The field before CPU limits were counted: refused with a sentence, not
    /// read with a meaning it no longer has.
    max_cpu_request_fraction: Option<serde::de::IgnoredAny>,
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

/// A Kubernetes object name (DNS subdomain): what a PriorityClass may be called,
/// and a label key's prefix.
pub(crate) fn is_dns_subdomain(name: &str) -> bool {
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
            if cap.max_cpu_request_fraction.is_some() {
                return Err(invalid(
                    "nodeCap.maxCpuRequestFraction",
                    "replaced by maxCpuLimitFraction, which counts CPU limits: a request does not bound what a boosted pod takes".into(),
                ));
            }
            if let Some(f) = cap.max_cpu_limit_fraction
                && !(f > 0.0 && f <= 1.0)
            {
                return Err(invalid(
                    "nodeCap.maxCpuLimitFraction",
                    format!(
                        "{f} is not a fraction of the node's CPU: use a number above 0, at most 1"
                    ),
                ));
            }
            node_cap = NodeCap {
                max_pods: cap.max_pods,
                max_pods_per_namespace: cap.max_pods_per_namespace,
                max_cpu_limit_fraction: cap.max_cpu_limit_fraction,
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

    /// What in this policy a tenant may be able to satisfy by itself: a route that
    /// grants in namespaces chosen by labels no admission policy reserves to admins
    /// (`Selector::is_protected`). Warned about at start, not refused: Kubernetes'
    /// default RBAC lets only cluster admins label namespaces, and a cluster may
    /// guard other labels by its own means, which the agent cannot see; but where
    /// tenants label their own namespaces (hierarchical namespaces, tenant
    /// operators), such a selector hands out boosts.
    pub fn unprotected_selectors(&self) -> Vec<String> {
        let advice = format!(
            "require the {NAMESPACE_LABEL} label as well (matchLabels, or In or Exists), which only cluster admins may set, unless only admins can label namespaces in this cluster"
        );
        let mut out = Vec::new();
        if !self.priority_classes.is_empty() {
            match &self.class_namespaces {
                None => out.push(format!(
                    "priorityClasses: granted in every namespace (no classNamespaceSelector): anyone who may create pods can use the classes; add a classNamespaceSelector and {advice}"
                )),
                Some(s) if !s.is_protected() => out.push(format!(
                    "classNamespaceSelector: selects namespaces by labels that no admission policy reserves to admins; {advice}"
                )),
                Some(_) => {}
            }
        }
        if let Some(s) = &self.annotation_namespaces
            && !s.is_protected()
        {
            out.push(format!(
                "annotations.namespaceSelector: selects namespaces by labels that no admission policy reserves to admins; {advice}"
            ));
        }
        out
    }

    /// Whether this policy can boost anything at all.
    pub fn grants_nothing(&self) -> bool {
        self.priority_classes.is_empty() && self.annotation_namespaces.is_none()
    }

    /// What `pod` gets under this policy, before the node cap: `Ok(None)` when it
    /// asks for nothing. `request` is what it asks for besides its class
    /// ([`request`]); `namespace_labels` are its namespace's (`None`: unknown).
    ///
    /// Precedence: a CPUBoost object selecting the pod wins over its class and its
    /// annotations (the object is an admin-granted, time-bound, recorded decision);
    /// otherwise the class wins over the annotations, which cannot raise it.
    pub fn decide(
        &self,
        pod: &Pod,
        request: Result<Option<Request>, Refusal>,
        namespace_labels: Option<&BTreeMap<String, String>>,
    ) -> Result<Option<Granted>, Refusal> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let by_object = matches!(&request, Ok(Some(r)) if matches!(r.via, Via::Object(_)));
        let class = pod
            .spec
            .as_ref()
            .and_then(|s| s.priority_class_name.as_deref());
        if !by_object
            && let Some((class, &weight)) =
                class.and_then(|c| self.priority_classes.get_key_value(c))
        {
            let selected = |s: &Selector| namespace_labels.is_some_and(|l| s.matches(l));
            if self.class_namespaces.as_ref().is_some_and(|s| !selected(s)) {
                return Err(Refusal::ClassNamespaceNotSelected {
                    class: class.clone(),
                    namespace: namespace.into(),
                });
            }
            return Ok(Some(Granted {
                weight,
                via: Via::PriorityClass(class.clone()),
            }));
        }
        let Some(request) = request? else {
            return Ok(None);
        };
        self.admit(&request, namespace, namespace_labels)?;
        Ok(Some(Granted {
            weight: request.weight,
            via: request.via,
        }))
    }

    /// Whether `request`, from namespace `namespace` (whose labels are
    /// `namespace_labels`, `None`: unknown), may be granted: the rules annotations
    /// and CPUBoost objects share (the namespaces `annotations.namespaceSelector`
    /// selects, and `maxWeight`). The node cap comes after, per node.
    pub fn admit(
        &self,
        request: &Request,
        namespace: &str,
        namespace_labels: Option<&BTreeMap<String, String>>,
    ) -> Result<(), Refusal> {
        let route = request.via.route();
        let Some(selector) = &self.annotation_namespaces else {
            return Err(Refusal::AnnotationsOff { route });
        };
        if !namespace_labels.is_some_and(|l| selector.matches(l)) {
            return Err(Refusal::NamespaceNotSelected {
                route,
                namespace: namespace.into(),
            });
        }
        if request.weight > self.max_weight {
            return Err(Refusal::OverMaxWeight {
                asked: request.weight.get(),
                max: self.max_weight.get(),
            });
        }
        Ok(())
    }
}

/// What `pod` asks for besides its class: `object`, the CPUBoost object that
/// selects it with its weight ([`crate::cpuboost::select`]), else its annotations
/// (a malformed one is refused, unless its class grants it anyway).
pub fn request(pod: &Pod, object: Option<(BoostRef, Weight)>) -> Result<Option<Request>, Refusal> {
    if let Some((boost, weight)) = object {
        return Ok(Some(Request {
            weight,
            via: Via::Object(boost),
        }));
    }
    Ok(annotations::requested_weight(pod)
        .map_err(Refusal::Invalid)?
        .map(|weight| Request {
            weight,
            via: Via::Annotation,
        }))
}

/// How a boost was asked for or granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    PriorityClass(String),
    Annotation,
    /// A CPUBoost object that selects the pod.
    Object(BoostRef),
}

impl Via {
    /// The route a refusal names: classes are refused before any request is made.
    fn route(&self) -> Route {
        match self {
            Via::Object(_) => Route::Object,
            Via::PriorityClass(_) | Via::Annotation => Route::Annotation,
        }
    }
}

/// A request for a boost: how much, and who asks (an annotation or an object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub weight: Weight,
    pub via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    pub weight: Weight,
    pub via: Via,
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
  maxPodsPerNamespace: 2
  maxCpuLimitFraction: 0.5
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
        assert_eq!(p.node_cap.max_pods_per_namespace, Some(2));
        assert_eq!(p.node_cap.max_cpu_limit_fraction, Some(0.5));
        let classes = p.class_namespaces.expect("class selector");
        assert!(classes.matches(&labels(&[("tier", "web")])));
        assert!(!classes.matches(&labels(&[])));
    }

    #[test]
    fn selectors_a_tenant_could_satisfy_are_named() {
        let warned = |text: &str| -> Vec<String> {
            parse(text)
                .expect(text)
                .unprotected_selectors()
                .iter()
                .map(|w| w.split(':').next().unwrap_or_default().to_string())
                .collect()
        };
        let protected = [
            "{matchLabels: {mus.patos.dev/boost: allowed}}",
            "{matchExpressions: [{key: mus.patos.dev/boost, operator: Exists}]}",
            "{matchLabels: {mus.patos.dev/boost: allowed, tier: web}}",
            "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [shop]}]}",
        ];
        for sel in protected {
            let text = format!(
                "priorityClasses: {{c: 4096}}\nclassNamespaceSelector: {sel}\nannotations: {{namespaceSelector: {sel}}}"
            );
            assert!(warned(&text).is_empty(), "{sel}");
        }
        let unprotected = [
            "{}",
            "{matchLabels: {tier: web}}",
            "{matchExpressions: [{key: mus.patos.dev/boost, operator: NotIn, values: [denied]}]}",
            "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: Exists}]}",
        ];
        for sel in unprotected {
            let text = format!(
                "priorityClasses: {{c: 4096}}\nclassNamespaceSelector: {sel}\nannotations: {{namespaceSelector: {sel}}}"
            );
            assert_eq!(
                warned(&text),
                ["classNamespaceSelector", "annotations.namespaceSelector"],
                "{sel}"
            );
        }
        assert_eq!(warned("priorityClasses: {c: 4096}"), ["priorityClasses"]);
        assert!(warned("").is_empty(), "no policy grants nothing");
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
        assert!(err("nodeCap: {maxCpuLimitFraction: 1.5}").contains("nodeCap.maxCpuLimitFraction"));
        assert!(
            err("nodeCap: {maxCpuRequestFraction: 0.5}")
                .contains("nodeCap.maxCpuRequestFraction: replaced by maxCpuLimitFraction"),
            "the old field's meaning is gone: it is refused, not ignored"
        );
        assert!(
            err("annotations: {namespaceSelector: {matchExpressions: [{key: a, operator: In}]}}")
                .contains("operator In needs values")
        );
        assert!(err("annotations: {}").contains("namespaceSelector"));
    }
}
