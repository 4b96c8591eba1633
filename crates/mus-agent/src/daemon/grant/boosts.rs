//! The CPUBoost objects as this node's policy sees them: each one in force (the
//! policy admits it as it would an annotation asking the same weight in the same
//! namespace, and it has not ended), expired, or refused with a reason. Pure, and
//! the same on every node that runs the same policy, so that every agent writes
//! the same status.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use crate::cpuboost::check::check;
use crate::cpuboost::select::{InForce, Selection};
use crate::cpuboost::status::{Standing, camel_case};
use crate::cpuboost::{BoostRef, CPUBoost};
use crate::daemon::grant::policy::{Policy, Request, Via};
use crate::daemon::grant::refusal::Refusal;

/// One object, judged.
#[derive(Clone, Debug)]
pub struct Judged {
    pub object: Arc<CPUBoost>,
    pub boost: BoostRef,
    pub standing: Standing,
    /// Why it is refused, if it is.
    pub refusal: Option<Refusal>,
}

/// Every object's standing at `now`, and the selection of those in force.
pub fn judge(
    objects: &[Arc<CPUBoost>],
    policy: &Policy,
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
    now: Timestamp,
) -> (Vec<Judged>, Selection) {
    let mut judged = Vec::new();
    let mut in_force = Vec::new();
    for object in objects {
        let boost = BoostRef::of(object);
        let verdict = check(object).map_err(Refusal::InvalidBoost).and_then(|b| {
            let request = Request {
                weight: b.weight,
                via: Via::Object(boost.clone()),
            };
            policy.admit(&request, &boost.namespace, namespaces.get(&boost.namespace))?;
            Ok(b)
        });
        let (standing, refusal) = match verdict {
            Err(refusal) => (refused(object, &refusal), Some(refusal)),
            Ok(b) if b.expires <= now => (
                Standing::Expired {
                    weight: b.weight.get(),
                    at: b.expires,
                },
                None,
            ),
            Ok(b) => {
                let standing = Standing::InForce {
                    weight: b.weight.get(),
                    expires: b.expires,
                };
                in_force.push(b);
                (standing, None)
            }
        };
        judged.push(Judged {
            object: Arc::clone(object),
            boost,
            standing,
            refusal,
        });
    }
    (judged, Selection::new(in_force))
}

fn refused(object: &CPUBoost, refusal: &Refusal) -> Standing {
    Standing::Refused {
        reason: camel_case(refusal.label()),
        message: refusal.to_string(),
        // A refused object still says when it would have ended, if it can.
        expires: check(object).ok().map(|b: InForce| b.expires),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn object(name: &str, namespace: &str, spec: serde_json::Value) -> Arc<CPUBoost> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "mus.patos.dev/v1alpha1",
                "kind": "CPUBoost",
                "metadata": {"name": name, "namespace": namespace,
                             "creationTimestamp": "2026-12-04T10:00:00Z"},
                "spec": spec,
            }))
            .expect("object"),
        )
    }

    #[test]
    fn objects_meet_the_annotations_rules_and_end_on_time() {
        let policy = Policy::parse(
            "maxWeight: 8192\nannotations: {namespaceSelector: {matchLabels: {boost: allowed}}}\n",
            Path::new("test"),
        )
        .expect("policy");
        let namespaces = BTreeMap::from([(
            "shop".to_string(),
            BTreeMap::from([("boost".to_string(), "allowed".to_string())]),
        )]);
        let spec = |weight: u32, duration: &str| serde_json::json!({"podName": "p", "weight": weight, "duration": duration, "reason": "r"});
        let objects = [
            object("ok", "shop", spec(4096, "1h")),
            object("greedy", "shop", spec(16384, "1h")),
            object("elsewhere", "dev", spec(4096, "1h")),
            object("over", "shop", spec(4096, "30m")),
            object("broken", "shop", spec(0, "1h")),
        ];
        let now: Timestamp = "2026-12-04T10:45:00Z".parse().expect("time");
        let (judged, selection) = judge(&objects, &policy, &namespaces, now);
        let standing = |name: &str| {
            let j = judged.iter().find(|j| j.boost.name == name).expect(name);
            match &j.standing {
                Standing::InForce { .. } => "in force".to_string(),
                Standing::Expired { .. } => "expired".to_string(),
                Standing::Refused { reason, .. } => reason.clone(),
            }
        };
        assert_eq!(standing("ok"), "in force");
        assert_eq!(standing("greedy"), "OverMaxWeight");
        assert_eq!(standing("elsewhere"), "NamespaceNotSelected");
        assert_eq!(standing("over"), "expired");
        assert_eq!(standing("broken"), "InvalidBoost");
        let elsewhere = judged
            .iter()
            .find(|j| j.boost.name == "elsewhere")
            .expect("elsewhere");
        assert_eq!(
            elsewhere.refusal.as_ref().map(|r| r.to_string()).as_deref(),
            Some(
                "CPUBoost objects are honoured only in namespaces the boost policy selects, and namespace dev is not one; ask a cluster admin"
            )
        );
        // Only the object in force selects, and the next pass is when it ends.
        assert_eq!(
            selection.next_expiry().map(|t| t.to_string()).as_deref(),
            Some("2026-12-04T11:00:00Z")
        );
        // No policy: objects are refused as annotations are.
        let (judged, _) = judge(&objects[..1], &Policy::default(), &namespaces, now);
        assert!(matches!(
            judged[0].refusal,
            Some(Refusal::AnnotationsOff { .. })
        ));
    }
}
