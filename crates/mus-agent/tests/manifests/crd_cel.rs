//! The CEL rules of manifests/cpuboost-crd.yaml run on sample specs as the API
//! server runs `x-kubernetes-validations` on `spec` (bound as `self`), with the
//! `cel` crate: a spec that names one target and one expiry passes, any other is
//! refused with the rule's message.

use std::sync::Arc;

use cel::{Context, Env, Value};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value as Json, json};

use super::{documents, one};

/// The (rule, message) pairs on the CRD's `spec`.
fn spec_rules() -> Vec<(String, String)> {
    let crd: CustomResourceDefinition =
        one(&documents("cpuboost-crd.yaml"), "CustomResourceDefinition");
    let schema =
        serde_json::to_value(crd.spec.versions[0].schema.as_ref().expect("schema")).expect("json");
    schema["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().expect("rule").to_string(),
                r["message"].as_str().expect("message").to_string(),
            )
        })
        .collect()
}

/// The messages of the rules `spec` breaks.
fn broken(spec: Json) -> Vec<String> {
    let env = Arc::new(Env::stdlib());
    let mut ctx = Context::with_env(Arc::clone(&env));
    ctx.add_variable("self", &spec)
        .unwrap_or_else(|e| panic!("self: {e}"));
    spec_rules()
        .into_iter()
        .filter(|(rule, _)| {
            let program = env.compile(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            let value = program
                .execute(&ctx)
                .unwrap_or_else(|e| panic!("{rule}: {e:?}"));
            value != Value::Bool(true)
        })
        .map(|(_, message)| message)
        .collect()
}

#[test]
fn a_boost_names_one_target_and_one_expiry() {
    let selector = json!({"matchLabels": {"app": "redis"}});
    assert!(broken(json!({"podName": "redis-0", "duration": "30m", "reason": "r"})).is_empty());
    assert!(
        broken(json!({"selector": selector, "until": "2030-01-01T00:00:00Z", "reason": "r"}))
            .is_empty()
    );
    assert_eq!(
        broken(
            json!({"selector": selector, "podName": "redis-0", "duration": "30m", "reason": "r"})
        ),
        ["set exactly one of selector and podName"]
    );
    assert_eq!(
        broken(json!({"duration": "30m", "reason": "r"})),
        ["set exactly one of selector and podName"]
    );
    assert_eq!(
        broken(
            json!({"podName": "p", "duration": "30m", "until": "2030-01-01T00:00:00Z", "reason": "r"})
        ),
        ["set exactly one of duration and until"]
    );
    assert_eq!(
        broken(json!({"podName": "p", "reason": "r"})),
        ["set exactly one of duration and until"]
    );
}
