//! The boost policy's `nodeCap`: how much one node boosts at once, in pods, in pods
//! of one namespace, and in the CPU the boosted pods can take (their CPU limits,
//! [`crate::daemon::grant::pod_cpu`]) as a fraction of the node's allocatable CPU. Applied
//! after the policy has granted each pod its weight, to all of them together.

use std::collections::BTreeMap;

use mus_common::CgroupId;

use crate::daemon::grant::pod_cpu::Unbounded;
use crate::daemon::grant::refusal::Refusal;

/// The node-wide cap: at most this much boosted at once on one node.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeCap {
    pub max_pods: Option<u32>,
    /// Of one namespace: one tenant cannot hold every slot of a node.
    pub max_pods_per_namespace: Option<u32>,
    /// Of the node's allocatable CPU, by the boosted pods' CPU limits.
    pub max_cpu_limit_fraction: Option<f64>,
}

/// A granted pod, resolved to its cgroup, before the node cap.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub cgroup: CgroupId,
    pub namespace: String,
    /// The map holds this daemon's entry for it already.
    pub held: bool,
    /// `metadata.creationTimestamp` (RFC 3339 sorts in time order), if any.
    pub created: Option<String>,
    /// What it can take of the node's CPU ([`crate::daemon::grant::pod_cpu::pod_cpu_limit_millis`]).
    pub cpu_limit_millis: Result<u64, Unbounded>,
}

impl NodeCap {
    /// Applies the node cap to `candidates` (granted and resolved): which keep
    /// their boost, and which are refused. Boosts the map already holds go first
    /// (a new pod never evicts a running boost), then the oldest pods, so the
    /// outcome does not flap between passes. `allocatable_millis` is the node's
    /// allocatable CPU (`None`: not known yet, so a CPU cap refuses everything).
    pub fn apply(
        &self,
        mut candidates: Vec<Candidate>,
        allocatable_millis: Option<u64>,
    ) -> (Vec<Candidate>, Vec<(Candidate, Refusal)>) {
        candidates.sort_by(|a, b| {
            (!a.held, &a.created, &a.cgroup).cmp(&(!b.held, &b.created, &b.cgroup))
        });
        let limit = self
            .max_cpu_limit_fraction
            .map(|f| allocatable_millis.map(|a| (a as f64 * f) as u64));
        let (mut kept, mut refused) = (Vec::new(), Vec::new());
        let mut per_namespace: BTreeMap<String, u32> = BTreeMap::new();
        let mut used_millis = 0;
        for c in candidates {
            let in_namespace = per_namespace.get(&c.namespace).copied().unwrap_or(0);
            let refusal = if let Some(max) = self.max_pods.filter(|&m| kept.len() >= m as usize) {
                Some(Refusal::NodeMaxPods { max })
            } else if let Some(max) = self.max_pods_per_namespace.filter(|&m| in_namespace >= m) {
                Some(Refusal::NamespaceMaxPods {
                    namespace: c.namespace.clone(),
                    max,
                })
            } else {
                match (limit, &c.cpu_limit_millis) {
                    (None, _) => None,
                    (Some(None), _) => Some(Refusal::NodeCpuUnknown),
                    (Some(Some(_)), Err(why)) => Some(Refusal::UnboundedCpu(why.clone())),
                    (Some(Some(limit)), Ok(asked)) if used_millis + asked > limit => {
                        Some(Refusal::NodeCpuFraction {
                            asked_millis: *asked,
                            used_millis,
                            limit_millis: limit,
                        })
                    }
                    (Some(Some(_)), Ok(asked)) => {
                        used_millis += asked;
                        None
                    }
                }
            };
            match refusal {
                Some(r) => refused.push((c, r)),
                None => {
                    *per_namespace.entry(c.namespace.clone()).or_default() += 1;
                    kept.push(c);
                }
            }
        }
        (kept, refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: u64, held: bool, created: &str, cpu: Option<u64>) -> Candidate {
        Candidate {
            cgroup: CgroupId(id),
            namespace: "shop".into(),
            held,
            created: Some(created.into()),
            cpu_limit_millis: cpu.ok_or(Unbounded::NoLimit("app".into())),
        }
    }

    fn ids(kept: &[Candidate]) -> Vec<u64> {
        kept.iter().map(|c| c.cgroup.0).collect()
    }

    #[test]
    fn the_cap_keeps_held_boosts_then_the_oldest() {
        let cap = NodeCap {
            max_pods: Some(2),
            ..Default::default()
        };
        let (kept, refused) = cap.apply(
            vec![
                candidate(1, false, "2026-01-01T00:00:00Z", None),
                candidate(2, true, "2026-03-01T00:00:00Z", None),
                candidate(3, false, "2026-02-01T00:00:00Z", None),
            ],
            None,
        );
        assert_eq!(ids(&kept), [2, 1]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0.cgroup, CgroupId(3));
        assert_eq!(refused[0].1, Refusal::NodeMaxPods { max: 2 });
    }

    #[test]
    fn one_namespace_cannot_hold_every_slot() {
        let cap = NodeCap {
            max_pods: Some(4),
            max_pods_per_namespace: Some(2),
            ..Default::default()
        };
        let in_ns = |id, held, ns: &str| Candidate {
            namespace: ns.into(),
            ..candidate(id, held, &format!("2026-01-0{id}T00:00:00Z"), None)
        };
        // The first tenant already holds three boosts; the second asks later.
        let (kept, refused) = cap.apply(
            vec![
                in_ns(1, true, "greedy"),
                in_ns(2, true, "greedy"),
                in_ns(3, true, "greedy"),
                in_ns(4, false, "other"),
                in_ns(5, false, "greedy"),
            ],
            None,
        );
        assert_eq!(ids(&kept), [1, 2, 4]);
        let why: Vec<(u64, &str)> = refused
            .iter()
            .map(|(c, r)| (c.cgroup.0, r.label()))
            .collect();
        assert_eq!(why, [(3, "namespace_max_pods"), (5, "namespace_max_pods")]);
        assert_eq!(
            refused[0].1.to_string(),
            "this node already boosts 2 pods of namespace greedy, the boost policy's nodeCap.maxPodsPerNamespace"
        );
    }

    #[test]
    fn the_cpu_cap_counts_limits_against_allocatable() {
        let cap = NodeCap {
            max_cpu_limit_fraction: Some(0.5),
            ..Default::default()
        };
        let pods = vec![
            candidate(1, false, "2026-01-01T00:00:00Z", Some(600)),
            candidate(2, false, "2026-01-02T00:00:00Z", Some(500)),
            candidate(3, false, "2026-01-03T00:00:00Z", None),
            candidate(4, false, "2026-01-04T00:00:00Z", Some(400)),
        ];
        let (kept, refused) = cap.apply(pods.clone(), Some(2000));
        assert_eq!(ids(&kept), [1, 4], "600m + 400m = the 1000m half of 2 CPUs");
        let why: Vec<&str> = refused.iter().map(|(_, r)| r.label()).collect();
        assert_eq!(why, ["node_cpu_fraction", "no_cpu_limit"]);
        let (kept, refused) = cap.apply(pods, None);
        assert!(kept.is_empty());
        assert!(refused.iter().all(|(_, r)| *r == Refusal::NodeCpuUnknown));
    }
}
