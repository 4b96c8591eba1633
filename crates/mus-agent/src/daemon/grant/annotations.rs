//! What a pod asks for: the annotations `mus-agent watch` reads, and the node label
//! the DaemonSet selects on. The manifests' tests read these constants too, so the
//! YAML and the binary cannot disagree on a name.

use k8s_openapi::api::core::v1::Pod;
use mus_common::{Weight, WeightError};

/// `mus.patos.dev/weight: "4096"`: boost the pod's cgroup at this weight (1 to 65536,
/// 1024 being an ordinary cgroup).
pub const WEIGHT_ANNOTATION: &str = "mus.patos.dev/weight";

/// `mus.patos.dev/boost: "true"`: boost the pod's cgroup at the default high weight
/// (4096). `"false"` asks for nothing. [`WEIGHT_ANNOTATION`] wins when both are set.
pub const BOOST_ANNOTATION: &str = "mus.patos.dev/boost";

/// Node label the DaemonSet's nodeSelector requires: set it on nodes whose kernel has
/// sched_ext (`kubectl label node NODE node-restriction.kubernetes.io/mus-sched-ext=true`).
/// Under the `node-restriction.kubernetes.io/` prefix, which the NodeRestriction
/// admission plugin forbids a kubelet to set on its own Node: a compromised node
/// cannot make itself run mus (and its privileged runner).
pub const NODE_LABEL: &str = "node-restriction.kubernetes.io/mus-sched-ext";

/// Namespace label the shipped boost policy and admission policy select on: pods
/// of a namespace an admin labelled `mus.patos.dev/boost=allowed` may be boosted.
pub const NAMESPACE_LABEL: &str = "mus.patos.dev/boost";

/// The name the agent publishes Kubernetes Events under.
pub const REPORTER: &str = "mus-agent";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    #[error("annotation {WEIGHT_ANNOTATION}={value:?} is invalid: {reason}")]
    Weight { value: String, reason: String },
    #[error("annotation {BOOST_ANNOTATION}={value:?} is invalid: use \"true\" or \"false\"")]
    Boost { value: String },
}

/// The weight `pod` asks for: `Ok(None)` when it asks for nothing.
pub fn requested_weight(pod: &Pod) -> Result<Option<Weight>, AnnotationError> {
    let Some(annotations) = pod.metadata.annotations.as_ref() else {
        return Ok(None);
    };
    if let Some(value) = annotations.get(WEIGHT_ANNOTATION) {
        return value
            .parse::<Weight>()
            .map(Some)
            .map_err(|reason: WeightError| AnnotationError::Weight {
                value: value.clone(),
                reason: reason.to_string(),
            });
    }
    match annotations.get(BOOST_ANNOTATION) {
        None => Ok(None),
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(Weight::HIGH_DEFAULT)),
            "false" => Ok(None),
            _ => Err(AnnotationError::Boost {
                value: value.clone(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn annotated(pairs: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                annotations: Some(
                    pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn weight_boost_and_nothing() {
        let w = |pairs: &[(&str, &str)]| requested_weight(&annotated(pairs));
        assert_eq!(requested_weight(&Pod::default()), Ok(None));
        assert_eq!(w(&[("other/thing", "1")]), Ok(None));
        assert_eq!(
            w(&[(WEIGHT_ANNOTATION, "8192")]),
            Ok(Weight::new(8192).ok())
        );
        assert_eq!(
            w(&[(BOOST_ANNOTATION, "true")]),
            Ok(Some(Weight::HIGH_DEFAULT))
        );
        assert_eq!(
            w(&[(BOOST_ANNOTATION, " True ")]),
            Ok(Some(Weight::HIGH_DEFAULT))
        );
        assert_eq!(w(&[(BOOST_ANNOTATION, "false")]), Ok(None));
        assert_eq!(
            w(&[(BOOST_ANNOTATION, "true"), (WEIGHT_ANNOTATION, "2048")]),
            Ok(Weight::new(2048).ok()),
            "the explicit weight wins"
        );
    }

    #[test]
    fn invalid_values_say_which_annotation_and_why() {
        let err = requested_weight(&annotated(&[(WEIGHT_ANNOTATION, "0")])).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "annotation mus.patos.dev/weight=\"0\" is invalid: weight 0 is out of range"
            ),
            "{err}"
        );
        let err = requested_weight(&annotated(&[(WEIGHT_ANNOTATION, "lots")])).unwrap_err();
        assert!(err.to_string().contains("not a whole number"), "{err}");
        let err = requested_weight(&annotated(&[(BOOST_ANNOTATION, "yes please")])).unwrap_err();
        assert!(
            err.to_string().contains("use \"true\" or \"false\""),
            "{err}"
        );
    }
}
