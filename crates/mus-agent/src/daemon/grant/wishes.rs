//! The pure step of a pass: this node's pods, the CPUBoost objects in force, the
//! policy and the map's current owner marks in; the entries the pods are granted
//! (and which object granted each), and the pods refused or not resolved yet, out.
//! The cgroup lookup is passed in ([`resolve_on_disk`] in the daemon), so that
//! tests run it on made-up pods.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::Resource;
use mus_common::CgroupId;

use crate::cgroup::index::inode;
use crate::cgroup::paths::{resolve_container, resolve_pod};
use crate::cpuboost::BoostRef;
use crate::cpuboost::select::Selection;
use crate::daemon::grant::node_cap::Candidate;
use crate::daemon::grant::pod_cpu::pod_cpu_limit_millis;
use crate::daemon::grant::policy::{self, Policy, Via};
use crate::daemon::grant::refusal::Refusal;
use crate::daemon::reconcile::{Desired, PodRef, Wish};
use crate::pod::cgroup_uid;
use crate::pod::{ContainerId, QosClass, rows_of_pod};

/// A pod that asks for a boost and does not get it.
#[derive(Clone, Debug, PartialEq)]
pub struct Refused {
    pub pod: PodRef,
    pub uid: String,
    pub refusal: Refusal,
    pub reference: ObjectReference,
    /// The CPUBoost object it asked through, if any.
    pub boost: Option<BoostRef>,
}

/// A granted pod whose cgroup is not on disk (yet: a pending pod has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub pod: PodRef,
    pub uid: String,
    pub reason: String,
}

/// What this node's pods are granted and refused.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Wishes {
    pub desired: Desired,
    pub refused: Vec<Refused>,
    pub unresolved: Vec<Unresolved>,
    /// The desired cgroups' pods, for refusals found later (a conflict).
    pub owners: BTreeMap<CgroupId, (String, ObjectReference)>,
    /// The desired cgroups a CPUBoost object granted, and which.
    pub granted_by: BTreeMap<CgroupId, BoostRef>,
}

/// What a pass knows besides the pods.
pub struct Context<'a> {
    pub node: &'a str,
    pub policy: &'a Policy,
    /// Namespace name → its labels, as last listed.
    pub namespaces: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// This node's allocatable CPU, if known.
    pub allocatable_millis: Option<u64>,
    /// Cgroups whose entry is this daemon's already (first under the node cap).
    pub held: &'a BTreeSet<CgroupId>,
    /// The CPUBoost objects in force (the policy accepted them, none expired).
    pub boosts: &'a Selection,
}

/// The desired entries of `pods` (those of the node that have not finished) under
/// the policy, with `resolve(uid, qos, container)` finding the cgroup directory and
/// ID of the pod whose cgroup is named after `uid` ([`cgroup_uid`]: a static
/// pod's, for its mirror pod), or of its container `container` when a CPUBoost
/// object names one. No I/O of its own.
pub fn wishes<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    ctx: &Context<'_>,
    resolve: impl Fn(
        &str,
        Option<QosClass>,
        Option<&ContainerId>,
    ) -> Result<(PathBuf, CgroupId), String>,
) -> Wishes {
    let mut out = Wishes::default();
    let mut candidates: BTreeMap<CgroupId, (Candidate, Wish)> = BTreeMap::new();
    for pod in pods {
        let on_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(ctx.node);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        // A finished pod's cgroup is gone (or about to be): nothing to boost.
        if !on_node || matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let meta = &pod.metadata;
        let pod_ref = PodRef {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        };
        let uid = meta.uid.clone().unwrap_or_default();
        let winner = ctx.boosts.winner(pod);
        let object = winner.map(|b| (b.boost.clone(), b.weight));
        let boost = object.as_ref().map(|(b, _)| b.clone());
        let request = policy::request(pod, object);
        let granted = match ctx
            .policy
            .decide(pod, request, ctx.namespaces.get(&pod_ref.namespace))
        {
            Ok(Some(g)) => g,
            Ok(None) => continue,
            Err(refusal) => {
                out.refused.push(Refused {
                    pod: pod_ref,
                    uid,
                    refusal,
                    reference: pod.object_ref(&()),
                    boost,
                });
                continue;
            }
        };
        // The object that won names a container: its cgroup, not the pod's.
        let container = match (&granted.via, winner.and_then(|b| b.container.as_deref())) {
            (Via::Object(boost), Some(name)) => Some(container_id(pod, boost, name)),
            _ => None,
        }
        .transpose();
        let resolved = container.and_then(|cid| {
            let cgroup_uid = cgroup_uid(pod).map_err(|e| e.to_string())?;
            resolve(cgroup_uid, QosClass::of(pod), cid.as_ref())
        });
        match resolved {
            Ok((path, id)) => {
                // Two pods cannot share a pod cgroup; if a broken tree says they do,
                // the larger weight wins, deterministically.
                if candidates
                    .get(&id)
                    .is_some_and(|(_, w)| w.weight >= granted.weight)
                {
                    continue;
                }
                let candidate = Candidate {
                    cgroup: id,
                    namespace: pod_ref.namespace.clone(),
                    held: ctx.held.contains(&id),
                    created: meta.creation_timestamp.as_ref().map(|t| t.0.to_string()),
                    cpu_limit_millis: pod_cpu_limit_millis(pod),
                };
                let wish = Wish {
                    pod: pod_ref,
                    path,
                    weight: granted.weight,
                };
                out.owners.insert(id, (uid, pod.object_ref(&())));
                match granted.via {
                    Via::Object(boost) => out.granted_by.insert(id, boost),
                    _ => out.granted_by.remove(&id),
                };
                candidates.insert(id, (candidate, wish));
            }
            Err(reason) => out.unresolved.push(Unresolved {
                pod: pod_ref,
                uid,
                reason,
            }),
        }
    }
    let (kept, capped) = ctx.policy.node_cap.apply(
        candidates.values().map(|(c, _)| c.clone()).collect(),
        ctx.allocatable_millis,
    );
    for c in kept {
        if let Some((_, wish)) = candidates.remove(&c.cgroup) {
            out.desired.insert(c.cgroup, wish);
        }
    }
    for (c, refusal) in capped {
        if let (Some((_, wish)), Some((uid, reference))) =
            (candidates.remove(&c.cgroup), out.owners.remove(&c.cgroup))
        {
            out.refused.push(Refused {
                pod: wish.pod,
                uid,
                refusal,
                reference,
                boost: out.granted_by.remove(&c.cgroup),
            });
        }
    }
    out
}

/// The ID of container `name` of `pod`, which `boost` names: not yet known while
/// the container has not started (the pass after it starts finds it).
fn container_id(pod: &Pod, boost: &BoostRef, name: &str) -> Result<ContainerId, String> {
    let row = rows_of_pod(pod)
        .into_iter()
        .find(|r| r.container == name)
        .ok_or_else(|| format!("{boost} names container {name}, which the pod does not have"))?;
    row.container_id
        .ok_or_else(|| format!("{boost} names container {name}, which has not started yet"))
}

/// A pod's cgroup under the cgroup mount `root`, or its container `container`'s:
/// the directory and its ID (inode).
pub fn resolve_on_disk(
    root: &Path,
    uid: &str,
    qos: Option<QosClass>,
    container: Option<&ContainerId>,
) -> Result<(PathBuf, CgroupId), String> {
    let path = match container {
        Some(cid) => resolve_container(root, uid, qos, cid),
        None => resolve_pod(root, uid, qos),
    }
    .map_err(|e| e.to_string())?;
    let id = inode(&path).ok_or_else(|| format!("cannot stat {}", path.display()))?;
    Ok((path, CgroupId(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpuboost::select::{InForce, Target};
    use crate::daemon::grant::annotations;
    use crate::daemon::grant::refusal::Route;
    use crate::pod::MIRROR_ANNOTATION;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use mus_common::Weight;
    use std::collections::BTreeMap;

    fn pod(name: &str, node: &str, phase: &str, annotations: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                uid: Some(format!("uid-{name}")),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                qos_class: Some("Burstable".into()),
                ..Default::default()
            }),
        }
    }

    /// uid-<name> → cgroup ID = name's length (unique enough here); "uid-pending"
    /// has no cgroup yet.
    fn fake_resolve(
        uid: &str,
        qos: Option<QosClass>,
        _: Option<&ContainerId>,
    ) -> Result<(PathBuf, CgroupId), String> {
        assert_eq!(qos, Some(QosClass::Burstable));
        if uid == "uid-pending" {
            return Err("no cgroup".into());
        }
        Ok((
            PathBuf::from(format!("/cg/{uid}")),
            CgroupId(uid.len() as u64),
        ))
    }

    /// Honours annotations in namespace "shop" up to 16384; grants class "critical" 8192.
    fn shop_policy() -> Policy {
        Policy::parse(
            "maxWeight: 16384
priorityClasses: {critical: 8192}
annotations: {namespaceSelector: {matchLabels: {boost: allowed}}}
",
            Path::new("test"),
        )
        .expect("policy")
    }

    fn wished(pods: &[Pod], policy: &Policy) -> Wishes {
        wished_with(pods, policy, &Selection::default())
    }

    fn wished_with(pods: &[Pod], policy: &Policy, boosts: &Selection) -> Wishes {
        let namespaces = BTreeMap::from([(
            "shop".to_string(),
            BTreeMap::from([("boost".to_string(), "allowed".to_string())]),
        )]);
        let ctx = Context {
            node: "node-a",
            policy,
            namespaces: &namespaces,
            allocatable_millis: None,
            held: &BTreeSet::new(),
            boosts,
        };
        wishes(pods, &ctx, fake_resolve)
    }

    #[test]
    fn an_object_in_force_wins_over_class_and_annotation_and_is_capped_alike() {
        let mut classy = pod("classy", "node-a", "Running", &[]);
        classy.spec.as_mut().expect("spec").priority_class_name = Some("critical".into());
        let annotated = pod(
            "annotated",
            "node-a",
            "Running",
            &[(annotations::WEIGHT_ANNOTATION, "8192")],
        );
        let by_name = |name: &str, weight: u64| InForce {
            boost: BoostRef {
                namespace: "shop".into(),
                name: format!("boost-{name}"),
            },
            target: Target::Pod(name.into()),
            weight: Weight::new(weight).expect("weight"),
            created: "2026-12-04T10:00:00Z".parse().expect("time"),
            expires: "2026-12-04T11:00:00Z".parse().expect("time"),
            container: None,
        };
        let boosts = Selection::new([by_name("classy", 2048), by_name("annotated", 16384)]);
        let got = wished_with(
            &[classy.clone(), annotated.clone()],
            &shop_policy(),
            &boosts,
        );
        let weights: Vec<(&str, u32)> = got
            .desired
            .values()
            .map(|w| (w.pod.name.as_str(), w.weight.get()))
            .collect();
        assert_eq!(weights, [("classy", 2048), ("annotated", 16384)]);
        assert_eq!(
            got.granted_by
                .values()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>(),
            ["boost-classy", "boost-annotated"]
        );
        // Under a node cap of one pod, the object's pod refused names its object.
        let mut capped = shop_policy();
        capped.node_cap.max_pods = Some(1);
        let got = wished_with(&[classy, annotated], &capped, &boosts);
        assert_eq!(got.desired.len(), 1);
        assert_eq!(got.refused.len(), 1);
        assert_eq!(got.refused[0].refusal.label(), "node_max_pods");
        assert!(got.refused[0].boost.is_some());
    }

    #[test]
    fn only_granted_running_pods_of_this_node_are_wished() {
        let w = annotations::WEIGHT_ANNOTATION;
        let b = annotations::BOOST_ANNOTATION;
        let pods = [
            pod("redis", "node-a", "Running", &[(w, "8192")]),
            pod("web", "node-a", "Running", &[(b, "true")]),
            pod("plain", "node-a", "Running", &[]),
            pod("away", "node-b", "Running", &[(w, "4096")]),
            pod("done", "node-a", "Succeeded", &[(w, "4096")]),
            pod("broken", "node-a", "Running", &[(w, "0")]),
            pod("greedy", "node-a", "Running", &[(w, "65536")]),
            pod("pending", "node-a", "Pending", &[(b, "true")]),
        ];
        let got = wished(&pods, &shop_policy());
        let names: Vec<(String, u32)> = got
            .desired
            .values()
            .map(|w| (w.pod.name.clone(), w.weight.get()))
            .collect();
        assert_eq!(
            names,
            [("web".to_string(), 4096), ("redis".to_string(), 8192)]
        );
        let refused: Vec<(&str, &str)> = got
            .refused
            .iter()
            .map(|r| (r.pod.name.as_str(), r.refusal.label()))
            .collect();
        assert_eq!(
            refused,
            [
                ("broken", "invalid_annotation"),
                ("greedy", "over_max_weight")
            ]
        );
        assert_eq!(got.refused[0].reference.name.as_deref(), Some("broken"));
        assert_eq!(got.refused[0].reference.kind.as_deref(), Some("Pod"));
        assert_eq!(got.unresolved.len(), 1);
        assert_eq!(got.unresolved[0].pod.name, "pending");

        // The same pods with no policy: every annotation refused, nothing wished.
        let got = wished(&pods, &Policy::default());
        assert!(got.desired.is_empty());
        assert!(
            got.refused.iter().all(|r| matches!(
                r.refusal,
                Refusal::AnnotationsOff { .. } | Refusal::Invalid(_)
            )),
            "{:?}",
            got.refused
        );
    }

    #[test]
    fn a_priority_class_grants_without_annotations_and_namespaces_are_checked() {
        let mut critical = pod("critical", "node-a", "Running", &[]);
        critical.spec.as_mut().expect("spec").priority_class_name = Some("critical".into());
        let mut elsewhere = pod(
            "elsewhere",
            "node-a",
            "Running",
            &[(annotations::BOOST_ANNOTATION, "true")],
        );
        elsewhere.metadata.namespace = Some("dev".into());
        let got = wished(&[critical, elsewhere], &shop_policy());
        let names: Vec<(&str, u32)> = got
            .desired
            .values()
            .map(|w| (w.pod.name.as_str(), w.weight.get()))
            .collect();
        assert_eq!(names, [("critical", 8192)]);
        assert_eq!(
            got.refused[0].refusal,
            Refusal::NamespaceNotSelected {
                route: Route::Annotation,
                namespace: "dev".into()
            }
        );
    }

    #[test]
    fn a_static_pod_is_found_through_its_mirror_pod() {
        let w = annotations::WEIGHT_ANNOTATION;
        let hash = "6a3f1c9e0b2d4f5a8c7e9d1b3a5f7c2e";
        let mirror = pod(
            "etcd-node-a",
            "node-a",
            "Running",
            &[(w, "8192"), (MIRROR_ANNOTATION, hash)],
        );
        // A pod pointing at another API pod's cgroup by its UID: not followed.
        let forged = pod(
            "forged",
            "node-a",
            "Running",
            &[
                (w, "8192"),
                (MIRROR_ANNOTATION, "1f2e3d4c-0000-4b5a-9c8d-7e6f5a4b3c2d"),
            ],
        );
        let got = wished(&[mirror, forged], &shop_policy());
        let paths: Vec<(&str, PathBuf)> = got
            .desired
            .values()
            .map(|w| (w.pod.name.as_str(), w.path.clone()))
            .collect();
        assert_eq!(
            paths,
            [("etcd-node-a", PathBuf::from(format!("/cg/{hash}")))]
        );
        assert_eq!(got.unresolved.len(), 1);
        assert_eq!(got.unresolved[0].pod.name, "forged");
        assert!(
            got.unresolved[0].reason.contains("not a kubelet's hash"),
            "{}",
            got.unresolved[0].reason
        );
    }

    #[test]
    fn a_class_outside_its_namespaces_is_refused_for_that_reason() {
        let policy = Policy::parse(
            "priorityClasses: {critical: 4096}
classNamespaceSelector: {matchLabels: {boost: allowed}}
",
            Path::new("test"),
        )
        .expect("policy");
        let mut classy = pod("classy", "node-a", "Running", &[]);
        classy.metadata.namespace = Some("dev".into());
        classy.spec.as_mut().expect("spec").priority_class_name = Some("critical".into());
        let got = wished(&[classy], &policy);
        let message = got.refused[0].refusal.to_string();
        assert!(
            message.starts_with("PriorityClass critical grants a boost only in namespaces the boost policy's classNamespaceSelector selects, and namespace dev is not one"),
            "{message}"
        );
    }
}
