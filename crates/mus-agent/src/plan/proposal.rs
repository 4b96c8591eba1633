//! What a `plan` is asked about from a file: a CPUBoost object's YAML, read as the
//! typed object and checked as the daemon checks it ([`crate::cpuboost::check`]), so
//! that `plan -f` refuses what the agents would refuse, with the same sentence. An
//! object not applied yet has no creationTimestamp: it is checked as if made now.

use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::core::Selector;
use mus_common::Weight;

use crate::cpuboost::CPUBoost;
use crate::cpuboost::check::{Invalid, check};
use crate::cpuboost::select::Target;

/// The pods a boost object selects.
#[derive(Clone, Debug)]
pub enum Selects {
    Pod(String),
    Labels(Selector),
}

/// A boost object's fields that `plan` reads.
#[derive(Clone, Debug)]
pub struct BoostObject {
    pub namespace: String,
    pub weight: Weight,
    pub selects: Selects,
    /// The container to boost instead of the pod.
    pub container: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProposalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a CPUBoost object: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: Invalid },
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
        let mut boost: CPUBoost =
            serde_saphyr::from_str(text).map_err(|e| ProposalError::Parse {
                path: path.into(),
                // the parser's first line says what and where; its code frame does not fit
                message: e.to_string().lines().next().unwrap_or_default().to_string(),
            })?;
        boost
            .metadata
            .creation_timestamp
            .get_or_insert(Time(Timestamp::now()));
        let asked = check(&boost).map_err(|reason| ProposalError::Invalid {
            path: path.into(),
            reason,
        })?;
        Ok(BoostObject {
            namespace: boost
                .metadata
                .namespace
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| "default".into()),
            weight: asked.weight,
            selects: match asked.target {
                Target::Pod(name) => Selects::Pod(name),
                Target::Labels(selector) => Selects::Labels(selector),
            },
            container: asked.container,
        })
    }
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
            "apiVersion: mus.patos.dev/v1alpha1\nkind: CPUBoost\nmetadata:\n  name: b\n  namespace: shop\nspec:\n  podName: cart\n  weight: 8192\n  duration: 30m\n  reason: r\n",
        )
        .expect("parse");
        assert_eq!(by_name.namespace, "shop");
        assert_eq!(by_name.weight.get(), 8192);
        assert!(matches!(by_name.selects, Selects::Pod(ref p) if p == "cart"));
        let by_labels = parse(
            "apiVersion: mus.patos.dev/v1alpha1\nkind: CPUBoost\nmetadata: {name: b}\nspec:\n  selector:\n    matchLabels: {app: web, tier: front}\n  duration: 1h\n  reason: r\n  container: app\n",
        )
        .expect("parse");
        assert_eq!(by_labels.namespace, "default");
        assert_eq!(
            by_labels.weight,
            Weight::HIGH_DEFAULT,
            "the object's default"
        );
        assert_eq!(by_labels.container.as_deref(), Some("app"));
        let Selects::Labels(labels) = by_labels.selects else {
            panic!("not labels")
        };
        assert_eq!(labels.to_string(), "app=web,tier=front");
    }

    #[test]
    fn bad_objects_are_the_daemons_sentence() {
        let object = |spec: &str| {
            format!(
                "apiVersion: mus.patos.dev/v1alpha1\nkind: CPUBoost\nmetadata: {{name: b}}\nspec:\n{spec}"
            )
        };
        let err = parse(&object(
            "  podName: cart\n  weight: 0\n  duration: 1h\n  reason: r\n",
        ))
        .unwrap_err();
        assert!(err.starts_with("boost.yaml: spec.weight"), "{err}");
        let err = parse(&object("  weight: 4096\n  duration: 1h\n  reason: r\n")).unwrap_err();
        assert!(
            err.contains("exactly one of spec.selector and spec.podName"),
            "{err}"
        );
        let err = parse(&object(
            "  podName: cart\n  until: 2020-01-01T00:00:00Z\n  reason: r\n",
        ))
        .unwrap_err();
        assert!(err.contains("would end before it begins"), "{err}");
        let err = parse("spec: [\n").unwrap_err();
        assert!(
            err.starts_with("boost.yaml is not a CPUBoost object"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
    }
}
