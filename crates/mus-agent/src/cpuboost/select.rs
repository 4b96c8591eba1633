//! Which boost a pod gets: the objects in force, matched against a pod by name or
//! label selector in their own namespace. When several select one pod, the larger
//! weight wins, then the older object, then the name: every node decides alike.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::core::{Selector, SelectorExt};
use mus_common::Weight;

use super::BoostRef;

/// The pods an object selects in its namespace.
#[derive(Clone, Debug)]
pub enum Target {
    Pod(String),
    Labels(Selector),
}

impl Target {
    /// Whether `pod` (of the object's namespace) is selected.
    pub fn selects(&self, pod: &Pod) -> bool {
        match self {
            Target::Pod(name) => pod.metadata.name.as_deref() == Some(name),
            Target::Labels(selector) => {
                selector.matches(pod.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
            }
        }
    }
}

/// An object the policy accepted and that has not expired.
#[derive(Clone, Debug)]
pub struct InForce {
    pub boost: BoostRef,
    pub target: Target,
    pub weight: Weight,
    pub created: Timestamp,
    pub expires: Timestamp,
    /// Boost this container's cgroup rather than the pod's.
    pub container: Option<String>,
}

/// The objects in force, by namespace, each namespace's in precedence order.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    by_namespace: BTreeMap<String, Vec<InForce>>,
}

impl Selection {
    pub fn new(boosts: impl IntoIterator<Item = InForce>) -> Selection {
        let mut by_namespace: BTreeMap<String, Vec<InForce>> = BTreeMap::new();
        for b in boosts {
            by_namespace
                .entry(b.boost.namespace.clone())
                .or_default()
                .push(b);
        }
        for list in by_namespace.values_mut() {
            list.sort_by(|a, b| {
                (Reverse(a.weight), a.created, &a.boost.name).cmp(&(
                    Reverse(b.weight),
                    b.created,
                    &b.boost.name,
                ))
            });
        }
        Selection { by_namespace }
    }

    /// The object `pod` is boosted by, if any selects it.
    pub fn winner(&self, pod: &Pod) -> Option<&InForce> {
        let namespace = pod.metadata.namespace.as_deref()?;
        self.by_namespace
            .get(namespace)?
            .iter()
            .find(|b| b.target.selects(pod))
    }

    /// The first instant an object in force expires: the daemon runs a pass then.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.by_namespace
            .values()
            .flatten()
            .map(|b| b.expires)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, LabelSelectorRequirement, ObjectMeta,
    };

    fn pod(namespace: &str, name: &str, labels: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn boost(name: &str, target: Target, weight: u64, created: &str) -> InForce {
        InForce {
            boost: BoostRef {
                namespace: "shop".into(),
                name: name.into(),
            },
            target,
            weight: Weight::new(weight).expect("weight"),
            created: created.parse().expect("time"),
            expires: "2030-01-01T00:00:00Z".parse().expect("time"),
            container: None,
        }
    }

    fn labels(app: &str) -> Target {
        Target::Labels(
            LabelSelector {
                match_labels: Some([("app".to_string(), app.to_string())].into()),
                ..Default::default()
            }
            .try_into()
            .expect("selector"),
        )
    }

    fn winner<'a>(s: &'a Selection, p: &Pod) -> Option<&'a str> {
        s.winner(p).map(|b| b.boost.name.as_str())
    }

    #[test]
    fn the_larger_weight_then_the_older_object_then_the_name_wins() {
        let redis = pod("shop", "redis-0", &[("app", "redis")]);
        let t0 = "2026-12-04T10:00:00Z";
        let t1 = "2026-12-04T11:00:00Z";
        // Larger weight wins, whatever the age or name.
        let s = Selection::new([
            boost("a-old-small", labels("redis"), 2048, t0),
            boost("z-new-large", Target::Pod("redis-0".into()), 8192, t1),
        ]);
        assert_eq!(winner(&s, &redis), Some("z-new-large"));
        // Same weight: the older object.
        let s = Selection::new([
            boost("a-new", labels("redis"), 4096, t1),
            boost("z-old", labels("redis"), 4096, t0),
        ]);
        assert_eq!(winner(&s, &redis), Some("z-old"));
        // Same weight and age: the name.
        let s = Selection::new([
            boost("b", labels("redis"), 4096, t0),
            boost("a", labels("redis"), 4096, t0),
        ]);
        assert_eq!(winner(&s, &redis), Some("a"));
    }

    #[test]
    fn an_object_selects_only_in_its_namespace_and_by_its_target() {
        let s = Selection::new([
            boost("by-label", labels("redis"), 4096, "2026-12-04T10:00:00Z"),
            boost(
                "by-name",
                Target::Pod("web-0".into()),
                4096,
                "2026-12-04T10:00:00Z",
            ),
        ]);
        assert_eq!(
            winner(&s, &pod("shop", "redis-1", &[("app", "redis")])),
            Some("by-label")
        );
        assert_eq!(
            winner(&s, &pod("shop", "web-0", &[("app", "web")])),
            Some("by-name")
        );
        assert_eq!(winner(&s, &pod("shop", "web-1", &[("app", "web")])), None);
        assert_eq!(
            winner(&s, &pod("dev", "redis-1", &[("app", "redis")])),
            None
        );
        assert_eq!(winner(&s, &pod("dev", "web-0", &[])), None);
        // Expressions, as the API server reads them.
        let exists = Target::Labels(
            LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "Exists".into(),
                    values: None,
                }]),
                ..Default::default()
            }
            .try_into()
            .expect("selector"),
        );
        assert!(exists.selects(&pod("shop", "a", &[("tier", "db")])));
        assert!(!exists.selects(&pod("shop", "b", &[])));
    }

    #[test]
    fn the_next_pass_is_at_the_first_expiry() {
        let mut early = boost("early", labels("redis"), 4096, "2026-12-04T10:00:00Z");
        early.expires = "2026-12-04T10:30:00Z".parse().expect("time");
        let late = boost("late", labels("web"), 4096, "2026-12-04T10:00:00Z");
        let s = Selection::new([late, early]);
        assert_eq!(
            s.next_expiry().map(|t| t.to_string()).as_deref(),
            Some("2026-12-04T10:30:00Z")
        );
        assert!(Selection::default().next_expiry().is_none());
    }
}
