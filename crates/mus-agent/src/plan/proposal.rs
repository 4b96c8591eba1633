//! What a `plan` is asked about: a pod, a cgroup, or a boost object's YAML, and the
//! weight proposed.
//!
//! The object is read from a generic YAML value, only the fields `plan` needs:
//! `metadata.namespace` (default `default`), `spec.weight`, and `spec.podName` or
//! `spec.selector.matchLabels`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mus_common::{Weight, WeightError};
use serde_json::Value;

/// The pods a boost object selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selects {
    Pod(String),
    Labels(BTreeMap<String, String>),
}

/// A boost object's fields that `plan` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoostObject {
    pub namespace: String,
    pub weight: Option<Weight>,
    pub selects: Selects,
}

#[derive(Debug, thiserror::Error)]
pub enum ProposalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not YAML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {field} {reason}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
}

impl BoostObject {
    pub fn load(path: &Path) -> Result<BoostObject, ProposalError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProposalError::Read {
            path: path.into(),
            source,
        })?;
        BoostObject::parse(&text, path)
    }

    /// Reads `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<BoostObject, ProposalError> {
        let doc: Value = serde_saphyr::from_str(text).map_err(|e| ProposalError::Parse {
            path: path.into(),
            // the parser's first line says what and where; its code frame does not fit
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        })?;
        let invalid = |field, reason: &str| ProposalError::Invalid {
            path: path.into(),
            field,
            reason: reason.into(),
        };
        let namespace = match doc.pointer("/metadata/namespace") {
            None | Some(Value::Null) => "default".to_string(),
            Some(Value::String(ns)) if !ns.is_empty() => ns.clone(),
            Some(_) => return Err(invalid("metadata.namespace", "must be a namespace name")),
        };
        let weight = match doc.pointer("/spec/weight") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(weight_of(n).map_err(|e| ProposalError::Invalid {
                path: path.into(),
                field: "spec.weight",
                reason: e.to_string(),
            })?),
            Some(_) => return Err(invalid("spec.weight", "must be a whole number")),
        };
        let pod = doc.pointer("/spec/podName");
        let labels = doc.pointer("/spec/selector/matchLabels");
        let selects = match (pod, labels) {
            (Some(Value::String(name)), None) if !name.is_empty() => Selects::Pod(name.clone()),
            (None, Some(Value::Object(map))) if !map.is_empty() => Selects::Labels(
                map.iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k.clone(), s.clone())),
                        _ => Err(invalid(
                            "spec.selector.matchLabels",
                            "values must be strings",
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "spec",
                    "has both podName and selector: give one of them",
                ));
            }
            _ => {
                return Err(invalid(
                    "spec",
                    "names no pod: give podName or selector.matchLabels",
                ));
            }
        };
        Ok(BoostObject {
            namespace,
            weight,
            selects,
        })
    }
}

/// A YAML number as a weight, with the map's wording of the range.
fn weight_of(n: &serde_json::Number) -> Result<Weight, WeightError> {
    match n.as_i64() {
        Some(w) => u64::try_from(w)
            .map_err(|_| WeightError::OutOfRange(w.into()))
            .and_then(Weight::new),
        None => Err(WeightError::NotANumber(n.to_string())),
    }
}

/// `k=v,k2=v2`: a label selector as the API takes it.
pub fn label_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BoostObject, String> {
        BoostObject::parse(text, Path::new("boost.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_boost_object_by_pod_name_or_labels() {
        let by_name = parse(
            "apiVersion: mus.patos.dev/v1alpha1\nkind: CPUBoost\nmetadata:\n  name: b\n  namespace: shop\nspec:\n  podName: cart\n  weight: 8192\n",
        );
        assert_eq!(
            by_name,
            Ok(BoostObject {
                namespace: "shop".into(),
                weight: Weight::new(8192).ok(),
                selects: Selects::Pod("cart".into()),
            })
        );
        let by_labels =
            parse("spec:\n  selector:\n    matchLabels: {app: web, tier: front}\n").expect("parse");
        assert_eq!(by_labels.namespace, "default");
        assert_eq!(by_labels.weight, None);
        let Selects::Labels(labels) = by_labels.selects else {
            panic!("not labels")
        };
        assert_eq!(label_selector(&labels), "app=web,tier=front");
    }

    #[test]
    fn bad_objects_are_one_sentence() {
        let err = parse("spec:\n  podName: cart\n  weight: 0\n").unwrap_err();
        assert!(
            err.contains("spec.weight weight 0 is out of range"),
            "{err}"
        );
        let err = parse("spec:\n  podName: cart\n  weight: -3\n").unwrap_err();
        assert!(err.contains("out of range"), "{err}");
        let err = parse("spec:\n  weight: 4096\n").unwrap_err();
        assert!(err.contains("names no pod"), "{err}");
        let err = parse("spec:\n  podName: a\n  selector: {matchLabels: {a: b}}\n").unwrap_err();
        assert!(err.contains("both podName and selector"), "{err}");
        let err = parse("spec: [\n").unwrap_err();
        assert!(err.starts_with("boost.yaml is not YAML"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }
}
