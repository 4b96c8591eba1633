//! What the agents write into a CPUBoost's status. Each node's agent owns its item
//! of `nodes` (server-side apply, field manager `mus-agent/<node>`); every other
//! field follows from the object, the policy's answer and the `nodes` list, so
//! every agent computes the same value and one that finds the status already so
//! writes nothing: agents do not undo each other's writes. The item of a node that
//! no longer exists has no agent left to remove it: the others do
//! (`crate::daemon::report::stale_nodes`), and the totals follow on their next pass.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;

use super::{CPUBoost, CPUBoostStatus, NodeBoost};

/// What the policy and the clock say of an object, the same on every node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    InForce {
        weight: u32,
        expires: Timestamp,
    },
    Expired {
        weight: u32,
        at: Timestamp,
    },
    /// `reason` is CamelCase (a condition's reason); `message` the sentence.
    Refused {
        reason: String,
        message: String,
        expires: Option<Timestamp>,
    },
}

/// The field manager of `node`'s agent.
pub fn field_manager(node: &str) -> String {
    format!("mus-agent/{node}")
}

/// The status `boost` should have once `node`'s item is `mine` (`None`: this node
/// boosts none of its pods); `now` stamps a condition that changes.
pub fn desired(
    boost: &CPUBoost,
    standing: &Standing,
    node: &str,
    mine: Option<NodeBoost>,
    now: Timestamp,
) -> CPUBoostStatus {
    let current = boost.status.clone().unwrap_or_default();
    let mut nodes: Vec<NodeBoost> = current
        .nodes
        .iter()
        .filter(|n| n.node != node)
        .cloned()
        .chain(mine)
        .collect();
    nodes.sort();
    let active_pods: u32 = nodes.iter().map(|n| n.pods).sum();
    let active_nodes = nodes.iter().filter(|n| n.pods > 0).count() as u32;
    let generation = boost.meta().generation;
    let condition = |type_: &str, on: bool, reason: &str, message: String| {
        let status = if on { "True" } else { "False" };
        // A condition keeps its transition time until its status changes.
        let since = current
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time: since,
            observed_generation: generation,
        }
    };
    let spread = format!("{active_pods} pod(s) on {active_nodes} node(s)");
    let allowed = |weight: u32| {
        condition(
            "Accepted",
            true,
            "PolicyAllows",
            format!("the boost policy allows weight {weight} in this namespace"),
        )
    };
    let not_refused = || condition("Refused", false, "PolicyAllows", String::new());
    let (weight, expires_at, conditions) = match standing {
        Standing::InForce { weight, expires } => (
            Some(*weight),
            Some(*expires),
            vec![
                allowed(*weight),
                not_refused(),
                if active_pods > 0 {
                    // An auto boost's weight moves per pod and node (status.nodes):
                    // spec.weight is only its ceiling.
                    let how = if boost.spec.auto.is_some() {
                        format!("automatically, at weight {weight} at most")
                    } else {
                        format!("at weight {weight}")
                    };
                    condition(
                        "Active",
                        true,
                        "Boosting",
                        format!("boosting {spread} {how}"),
                    )
                } else {
                    condition(
                        "Active",
                        false,
                        "NoPodSelected",
                        "selects no running pod on a node where mus runs".into(),
                    )
                },
                condition(
                    "Expired",
                    false,
                    "InForce",
                    format!("in force until {expires}"),
                ),
            ],
        ),
        Standing::Expired { weight, at } => (
            Some(*weight),
            Some(*at),
            vec![
                allowed(*weight),
                not_refused(),
                condition(
                    "Active",
                    false,
                    "Expired",
                    if active_pods > 0 {
                        format!("expired at {at}; {spread} not unboosted yet")
                    } else {
                        format!("expired at {at}")
                    },
                ),
                condition(
                    "Expired",
                    true,
                    "Expired",
                    format!("ended at {at}; delete the object when its record is no longer needed"),
                ),
            ],
        ),
        Standing::Refused {
            reason,
            message,
            expires,
        } => (
            None,
            *expires,
            vec![
                condition("Accepted", false, reason, message.clone()),
                condition("Refused", true, reason, message.clone()),
                condition(
                    "Active",
                    false,
                    "Refused",
                    "refused: nothing is boosted".into(),
                ),
                condition(
                    "Expired",
                    false,
                    "Refused",
                    "refused: never in force".into(),
                ),
            ],
        ),
    };
    CPUBoostStatus {
        conditions,
        weight,
        expires_at: expires_at.map(Time),
        active_pods,
        active_nodes,
        nodes,
    }
}

/// The server-side apply body of `node`'s agent for status `full`: every field but
/// the other nodes' items, which their agents own.
pub fn applied(full: &CPUBoostStatus, node: &str) -> serde_json::Value {
    let mut mine = full.clone();
    mine.nodes.retain(|n| n.node == node);
    serde_json::json!({
        "apiVersion": "mus.patos.dev/v1alpha1",
        "kind": "CPUBoost",
        "status": mine,
    })
}

/// Whether `a` and `b` differ at most in their conditions' transition times: the
/// same status computed at two instants.
pub fn same_but_times(a: &CPUBoostStatus, b: &CPUBoostStatus) -> bool {
    let timeless = |s: &CPUBoostStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
        }
        s
    };
    timeless(a) == timeless(b)
}

/// A refusal label (`over_max_weight`) as a condition reason (`OverMaxWeight`).
pub fn camel_case(label: &str) -> String {
    label
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boost(status: Option<CPUBoostStatus>) -> CPUBoost {
        let mut b: CPUBoost = serde_json::from_value(serde_json::json!({
            "apiVersion": "mus.patos.dev/v1alpha1",
            "kind": "CPUBoost",
            "metadata": {"name": "b", "namespace": "shop", "generation": 3,
                         "creationTimestamp": "2026-12-04T10:00:00Z"},
            "spec": {"podName": "redis-0", "duration": "30m", "reason": "r"},
        }))
        .expect("object");
        b.status = status;
        b
    }

    fn item(node: &str, pods: u32) -> NodeBoost {
        NodeBoost {
            node: node.into(),
            pods,
            weight: 4096,
            auto_problem: None,
        }
    }

    fn at(t: &str) -> Timestamp {
        t.parse().expect("time")
    }

    fn in_force() -> Standing {
        Standing::InForce {
            weight: 4096,
            expires: at("2026-12-04T10:30:00Z"),
        }
    }

    fn condition<'a>(s: &'a CPUBoostStatus, type_: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == type_).expect(type_)
    }

    #[test]
    fn totals_follow_every_nodes_item_and_each_node_applies_only_its_own() {
        let now = at("2026-12-04T10:01:00Z");
        let b = boost(Some(CPUBoostStatus {
            nodes: vec![item("node-b", 2), item("node-a", 9)],
            ..Default::default()
        }));
        let s = desired(&b, &in_force(), "node-a", Some(item("node-a", 1)), now);
        assert_eq!(s.nodes, [item("node-a", 1), item("node-b", 2)]);
        assert_eq!((s.active_pods, s.active_nodes), (3, 2));
        assert_eq!(s.weight, Some(4096));
        assert_eq!(condition(&s, "Active").status, "True");
        assert_eq!(
            condition(&s, "Active").message,
            "boosting 3 pod(s) on 2 node(s) at weight 4096"
        );
        assert_eq!(condition(&s, "Accepted").observed_generation, Some(3));
        let body = applied(&s, "node-a");
        assert_eq!(
            body["status"]["nodes"],
            serde_json::json!([{"node": "node-a", "pods": 1, "weight": 4096}])
        );
        assert_eq!(body["status"]["activePods"], 3);
        // An auto boost's weight is per pod and node: the condition gives its ceiling.
        let mut auto = b.clone();
        auto.spec.auto = serde_json::from_value(serde_json::json!({"target": {"psiSomeAvg10": 5}}))
            .expect("auto");
        let s2 = desired(&auto, &in_force(), "node-a", Some(item("node-a", 1)), now);
        assert_eq!(
            condition(&s2, "Active").message,
            "boosting 3 pod(s) on 2 node(s) automatically, at weight 4096 at most"
        );
        // This node boosts nothing: its item goes, the others' stay.
        let s = desired(&b, &in_force(), "node-a", None, now);
        assert_eq!(s.nodes, [item("node-b", 2)]);
        assert!(applied(&s, "node-a")["status"].get("nodes").is_none());
    }

    #[test]
    fn a_status_already_written_is_computed_again_unchanged() {
        let b = boost(None);
        let first = desired(
            &b,
            &in_force(),
            "node-a",
            Some(item("node-a", 1)),
            at("2026-12-04T10:01:00Z"),
        );
        // Later, on another node, with the first write in: the same status, times included.
        let b = boost(Some(first.clone()));
        let again = desired(&b, &in_force(), "node-b", None, at("2026-12-04T10:02:00Z"));
        assert_eq!(again, first);
        // Expiry flips Active and Expired, with the new time; Accepted keeps its own.
        let expired = Standing::Expired {
            weight: 4096,
            at: at("2026-12-04T10:30:00Z"),
        };
        let later = at("2026-12-04T10:30:01Z");
        let s = desired(&b, &expired, "node-a", None, later);
        assert_eq!(condition(&s, "Expired").status, "True");
        assert_eq!(condition(&s, "Expired").last_transition_time.0, later);
        assert_eq!(
            condition(&s, "Accepted").last_transition_time.0,
            at("2026-12-04T10:01:00Z")
        );
        assert_eq!(condition(&s, "Active").status, "False");
    }

    #[test]
    fn a_refusal_carries_the_policys_reason_and_sentence() {
        let refused = Standing::Refused {
            reason: camel_case("over_max_weight"),
            message: "weight 65536 is above the boost policy's maxWeight 8192".into(),
            expires: None,
        };
        let s = desired(
            &boost(None),
            &refused,
            "node-a",
            None,
            at("2026-12-04T10:01:00Z"),
        );
        let c = condition(&s, "Refused");
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "OverMaxWeight")
        );
        assert_eq!(
            c.message,
            "weight 65536 is above the boost policy's maxWeight 8192"
        );
        assert_eq!(condition(&s, "Accepted").status, "False");
        assert_eq!(s.weight, None);
    }
}
