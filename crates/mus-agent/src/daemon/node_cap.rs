//! The boost policy's `nodeCap`: how much one node boosts at once, in pods and in
//! their CPU requests as a fraction of the node's allocatable CPU. Applied after
//! the policy has granted each pod its weight, to all of them together.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use mus_common::CgroupId;

use crate::daemon::refusal::Refusal;

/// The node-wide cap: at most this much boosted at once on one node.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeCap {
    pub max_pods: Option<u32>,
    /// Of the node's allocatable CPU, by the boosted pods' CPU requests.
    pub max_cpu_request_fraction: Option<f64>,
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
            .max_cpu_request_fraction
            .map(|f| allocatable_millis.map(|a| (a as f64 * f) as u64));
        let (mut kept, mut refused) = (Vec::new(), Vec::new());
        let mut used_millis = 0;
        for c in candidates {
            let refusal = if self.max_pods.is_some_and(|max| kept.len() >= max as usize) {
                Some(Refusal::NodeMaxPods {
                    max: self.max_pods.unwrap_or_default(),
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
        let cap = NodeCap {
            max_pods: Some(2),
            max_cpu_request_fraction: None,
        };
        let (kept, refused) = cap.apply(
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
        let cap = NodeCap {
            max_pods: None,
            max_cpu_request_fraction: Some(0.5),
        };
        let pods = vec![
            candidate(1, false, "2026-01-01T00:00:00Z", Some(600)),
            candidate(2, false, "2026-01-02T00:00:00Z", Some(500)),
            candidate(3, false, "2026-01-03T00:00:00Z", None),
            candidate(4, false, "2026-01-04T00:00:00Z", Some(400)),
        ];
        let (kept, refused) = cap.apply(pods.clone(), Some(2000));
        let ids: Vec<u64> = kept.iter().map(|c| c.cgroup.0).collect();
        assert_eq!(ids, [1, 4], "600m + 400m = the 1000m half of 2 CPUs");
        let why: Vec<&str> = refused.iter().map(|(_, r)| r.label()).collect();
        assert_eq!(why, ["node_cpu_fraction", "no_cpu_request"]);
        let (kept, refused) = cap.apply(pods, None);
        assert!(kept.is_empty());
        assert!(refused.iter().all(|(_, r)| *r == Refusal::NodeCpuUnknown));
    }
}
