//! What a CPUBoost object asks for, checked: its target, weight and end. The API
//! server's schema and CEL rules refuse most mistakes at `kubectl apply`; this
//! checks them again (an object may predate the CRD's rules) and adds what CEL
//! cannot see, such as an `until` that was already past when the object was made.
//! Each mistake is one sentence naming the field.

use k8s_openapi::jiff::Timestamp;
use kube::core::Selector;
use mus_common::Weight;

use super::BoostRef;
use super::expiry::after;
use super::select::{InForce, Target};
use super::{CPUBoost, CPUBoostSpec};
use crate::auto::spec::{AutoSettings, AutoSpecError};
use crate::duration;

/// Why an object cannot be run, whatever the policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("set exactly one of spec.selector and spec.podName")]
    Target,
    #[error("set exactly one of spec.duration and spec.until")]
    Expiry,
    #[error("spec.duration {0:?} is not a duration such as 30m, 2h, 1h30m or 90s (Go's notation)")]
    Duration(String),
    #[error("spec.duration {0:?} ends the boost when it begins")]
    ZeroDuration(String),
    #[error(
        "spec.until {until} is not after the object's creation ({created}): the boost would end before it begins"
    )]
    UntilPassed {
        until: Timestamp,
        created: Timestamp,
    },
    #[error("spec.weight: {0}")]
    Weight(String),
    #[error("spec.auto.{0}")]
    Auto(AutoSpecError),
    #[error(
        "spec.auto.maxWeight {max} is above spec.weight {weight}: spec.weight is the most an auto boost may reach, so raise it or lower maxWeight"
    )]
    AutoAboveWeight { max: u32, weight: u32 },
    #[error("spec.selector is not a label selector: {0}")]
    Selector(String),
    #[error("the object has no creationTimestamp")]
    NotCreated,
}

/// What a valid object asks for; [`InForce`] once the policy accepts it.
pub fn check(boost: &CPUBoost) -> Result<InForce, Invalid> {
    let spec = &boost.spec;
    let created = boost
        .metadata
        .creation_timestamp
        .as_ref()
        .ok_or(Invalid::NotCreated)?
        .0;
    let target = match (&spec.selector, &spec.pod_name) {
        (Some(selector), None) => Target::Labels(
            Selector::try_from(selector.clone()).map_err(|e| Invalid::Selector(e.0))?,
        ),
        (None, Some(name)) => Target::Pod(name.clone()),
        _ => return Err(Invalid::Target),
    };
    let weight = Weight::new(spec.weight.into()).map_err(|e| Invalid::Weight(e.to_string()))?;
    auto_settings(spec)?;
    let expires = match (&spec.duration, &spec.until) {
        (Some(text), None) => {
            let d = duration::parse(text).ok_or_else(|| Invalid::Duration(text.clone()))?;
            if d.is_zero() {
                return Err(Invalid::ZeroDuration(text.clone()));
            }
            after(created, d).ok_or_else(|| Invalid::Duration(text.clone()))?
        }
        (None, Some(until)) if until.0 > created => until.0,
        (None, Some(until)) => {
            return Err(Invalid::UntilPassed {
                until: until.0,
                created,
            });
        }
        _ => return Err(Invalid::Expiry),
    };
    Ok(InForce {
        boost: BoostRef::of(boost),
        target,
        weight,
        created,
        expires,
        container: spec.container.clone(),
    })
}

/// The auto mode's settings, checked, if the object has one. `spec.weight` is
/// what the policy admits, so an auto boost may not reach above it: its
/// `maxWeight` is at most `spec.weight` (both default to 4096).
pub fn auto_settings(spec: &CPUBoostSpec) -> Result<Option<AutoSettings>, Invalid> {
    let Some(auto) = &spec.auto else {
        return Ok(None);
    };
    let settings = auto.validate().map_err(Invalid::Auto)?;
    if settings.max_weight.get() > spec.weight {
        return Err(Invalid::AutoAboveWeight {
            max: settings.max_weight.get(),
            weight: spec.weight,
        });
    }
    Ok(Some(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(spec: serde_json::Value) -> CPUBoost {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mus.patos.dev/v1alpha1",
            "kind": "CPUBoost",
            "metadata": {"name": "b", "namespace": "shop", "creationTimestamp": "2026-12-04T10:00:00Z"},
            "spec": spec,
        }))
        .expect("object")
    }

    fn err(spec: serde_json::Value) -> String {
        check(&object(spec)).expect_err("invalid").to_string()
    }

    #[test]
    fn a_valid_object_ends_after_its_duration_or_at_until() {
        let b = check(&object(
            serde_json::json!({"podName": "redis-0", "duration": "30m", "reason": "r"}),
        ))
        .expect("valid");
        assert_eq!(b.weight, Weight::HIGH_DEFAULT, "the default weight is 4096");
        assert_eq!(b.expires.to_string(), "2026-12-04T10:30:00Z");
        let b = check(&object(serde_json::json!({
            "selector": {"matchLabels": {"app": "redis"}},
            "until": "2026-12-04T12:00:00Z", "weight": 8192, "reason": "r"
        })))
        .expect("valid");
        assert_eq!(b.weight.get(), 8192);
        assert_eq!(b.expires.to_string(), "2026-12-04T12:00:00Z");
    }

    #[test]
    fn each_mistake_is_one_sentence_naming_the_field() {
        let spec = |extra: serde_json::Value| {
            let mut s = serde_json::json!({"podName": "p", "duration": "5m", "reason": "r"});
            for (k, v) in extra.as_object().expect("object") {
                if v.is_null() {
                    s.as_object_mut().expect("object").remove(k);
                } else {
                    s[k] = v.clone();
                }
            }
            s
        };
        assert!(
            err(spec(serde_json::json!({"weight": 0})))
                .starts_with("spec.weight: weight 0 is out of range")
        );
        assert!(
            err(spec(serde_json::json!({"weight": 70000})))
                .starts_with("spec.weight: weight 70000 is out of range")
        );
        assert_eq!(
            err(spec(
                serde_json::json!({"duration": null, "until": "2026-12-04T09:00:00Z"})
            )),
            "spec.until 2026-12-04T09:00:00Z is not after the object's creation (2026-12-04T10:00:00Z): the boost would end before it begins"
        );
        assert_eq!(
            err(spec(serde_json::json!({"until": "2026-12-05T00:00:00Z"}))),
            "set exactly one of spec.duration and spec.until"
        );
        assert_eq!(
            err(spec(serde_json::json!({"selector": {}}))),
            "set exactly one of spec.selector and spec.podName"
        );
        assert_eq!(
            err(spec(serde_json::json!({"duration": "1d"}))),
            "spec.duration \"1d\" is not a duration such as 30m, 2h, 1h30m or 90s (Go's notation)"
        );
        assert_eq!(
            err(spec(serde_json::json!({"duration": "0s"}))),
            "spec.duration \"0s\" ends the boost when it begins"
        );
        assert_eq!(
            err(spec(
                serde_json::json!({"auto": {"target": {"waitP99": "1ms"}, "maxWeight": 8192}})
            )),
            "spec.auto.maxWeight 8192 is above spec.weight 4096: spec.weight is the most an auto boost may reach, so raise it or lower maxWeight"
        );
        assert_eq!(
            err(spec(serde_json::json!({"auto": {"target": {}}}))),
            "spec.auto.target: set exactly one of waitP99 and psiSomeAvg10"
        );
        assert!(err(spec(serde_json::json!({"podName": null, "selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}))).starts_with("spec.selector is not a label selector"));
    }
}
