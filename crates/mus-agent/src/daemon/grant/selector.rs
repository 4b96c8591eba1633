//! The label selectors of the boost policy (`classNamespaceSelector`,
//! `annotations.namespaceSelector`): Kubernetes' `matchLabels` and
//! `matchExpressions`, read with `deny_unknown_fields` so that a misspelt field
//! is an error rather than an empty selector, which would match every namespace.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::daemon::grant::annotations::NAMESPACE_LABEL;

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
    pub(super) fn validated(self, field: &str) -> Result<Selector, (String, String)> {
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

    /// Whether only a cluster admin can make a namespace match: one requirement
    /// demands [`NAMESPACE_LABEL`], which manifests/mus-admission.yaml lets only
    /// admins set, or names namespaces by `kubernetes.io/metadata.name`, which the
    /// API server sets to the name. Other labels are anyone's who may label
    /// namespaces, and `NotIn` or `DoesNotExist` match namespaces that lack a label.
    pub(super) fn is_protected(&self) -> bool {
        let protected = |key: &str, op: Operator| match key {
            NAMESPACE_LABEL => matches!(op, Operator::In | Operator::Exists),
            METADATA_NAME_LABEL => op == Operator::In,
            _ => false,
        };
        self.match_labels.keys().any(|k| protected(k, Operator::In))
            || self
                .match_expressions
                .iter()
                .any(|r| protected(&r.key, r.operator))
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

/// The label the API server gives every namespace: its name, which cannot change.
const METADATA_NAME_LABEL: &str = "kubernetes.io/metadata.name";
