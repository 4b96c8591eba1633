//! The admission policies of manifests/mus-admission.yaml, run on sample requests as
//! the API server runs a ValidatingAdmissionPolicy: the request must match a rule of
//! `matchConstraints` and every `matchConditions` expression, then the `variables`
//! are computed in order and every `validations` expression must hold. The CEL is the
//! `cel` crate's with its strings extension (Kubernetes' `lowerAscii` and `trim`);
//! an expression that does not compile or evaluate fails the test, since on a
//! fail-closed policy that would refuse the request.

use std::collections::HashMap;
use std::sync::Arc;

use cel::{Context, Env, Value};
use k8s_openapi::api::admissionregistration::v1::{
    NamedRuleWithOperations, ValidatingAdmissionPolicy, ValidatingAdmissionPolicySpec,
};
use serde_json::{Map, Value as Json, json};

use super::{documents, one};

/// The spec of the ValidatingAdmissionPolicy `name` in mus-admission.yaml.
pub fn policy(name: &str) -> ValidatingAdmissionPolicySpec {
    let found: Vec<Json> = documents("mus-admission.yaml")
        .into_iter()
        .filter(|d| d["kind"] == "ValidatingAdmissionPolicy" && d["metadata"]["name"] == name)
        .collect();
    let vap: ValidatingAdmissionPolicy = one(&found, "ValidatingAdmissionPolicy");
    vap.spec.expect("spec")
}

/// One admission request, as much of it as the policies read.
struct Request<'a> {
    operation: &'a str,
    /// `resource` or `resource/subresource`.
    resource: &'a str,
    object: Json,
    /// None on CREATE.
    old_object: Option<Json>,
    /// The namespace the object is in.
    namespace: Json,
    /// The groups of the user who sent it.
    groups: &'a [&'a str],
    /// Who sent it.
    username: &'a str,
}

#[derive(Debug, PartialEq)]
enum Decision {
    /// The policy does not apply to the request (a rule or a match condition).
    NotMatched,
    Allowed,
    /// Refused with this `reason`.
    Denied(String),
}
use Decision::{Allowed, Denied, NotMatched};

fn denied(reason: &str) -> Decision {
    Denied(reason.to_string())
}

/// What the policy `spec` decides about `req`.
fn decide(spec: &ValidatingAdmissionPolicySpec, req: &Request) -> Decision {
    let rules = spec
        .match_constraints
        .as_ref()
        .and_then(|m| m.resource_rules.as_deref())
        .unwrap_or_default();
    if !rules.iter().any(|r| rule_matches(r, req)) {
        return NotMatched;
    }
    let env = {
        let mut env = Env::stdlib();
        env.add_extension(cel::extensions::strings)
            .expect("the strings extension");
        Arc::new(env)
    };
    let mut ctx = Context::with_env(Arc::clone(&env));
    let bind = |ctx: &mut Context, name: &str, value: &Json| {
        ctx.add_variable(name, value)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    bind(&mut ctx, "object", &req.object);
    bind(
        &mut ctx,
        "oldObject",
        req.old_object.as_ref().unwrap_or(&Json::Null),
    );
    bind(&mut ctx, "namespaceObject", &req.namespace);
    let request = json!({
        "operation": req.operation,
        "userInfo": { "username": req.username, "groups": req.groups },
    });
    bind(&mut ctx, "request", &request);
    let eval = |ctx: &Context, expression: &str| -> Value {
        let program = env
            .compile(expression)
            .unwrap_or_else(|e| panic!("{expression}: {e}"));
        program
            .execute(ctx)
            .unwrap_or_else(|e| panic!("{expression}: {e:?}"))
    };

    for condition in spec.match_conditions.as_deref().unwrap_or_default() {
        if eval(&ctx, &condition.expression) != Value::Bool(true) {
            return NotMatched;
        }
    }
    let mut variables: HashMap<String, Value> = HashMap::new();
    for variable in spec.variables.as_deref().unwrap_or_default() {
        // A variable may use the ones before it.
        let value = eval(&ctx, &variable.expression);
        variables.insert(variable.name.clone(), value);
        ctx.add_variable_from_value("variables", variables.clone());
    }
    for validation in spec.validations.as_deref().unwrap_or_default() {
        if eval(&ctx, &validation.expression) != Value::Bool(true) {
            return Denied(validation.reason.clone().unwrap_or_default());
        }
    }
    Allowed
}

/// Whether `rule` selects `req`, with Kubernetes' wildcards: `*` is every
/// resource but no subresource, `r/*` every subresource of `r`, `*/*` all.
fn rule_matches(rule: &NamedRuleWithOperations, req: &Request) -> bool {
    let has = |list: &Option<Vec<String>>, value: &str| {
        list.as_deref()
            .unwrap_or_default()
            .iter()
            .any(|v| v == "*" || v == value)
    };
    let resource_matches =
        |pattern: &String| match (pattern.split_once('/'), req.resource.split_once('/')) {
            (None, None) => pattern == "*" || pattern == req.resource,
            (Some((r, s)), Some((resource, sub))) => {
                (r == "*" || r == resource) && (s == "*" || s == sub)
            }
            _ => false,
        };
    has(&rule.api_groups, "")
        && has(&rule.api_versions, "v1")
        && has(&rule.operations, req.operation)
        && rule
            .resources
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(resource_matches)
}

/// A string map, or nothing: the API server leaves out an empty one.
fn string_map(entries: &[(&str, &str)]) -> Option<Json> {
    (!entries.is_empty()).then(|| {
        Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect::<Map<_, _>>(),
        )
    })
}

/// A tenant's pod with these annotations and PriorityClass, and finalizers.
fn pod(annotations: &[(&str, &str)], class: Option<&str>, finalizers: &[&str]) -> Json {
    let mut metadata = json!({ "name": "web-1", "namespace": "tenant" });
    if let Some(a) = string_map(annotations) {
        metadata["annotations"] = a;
    }
    if !finalizers.is_empty() {
        metadata["finalizers"] = json!(finalizers);
    }
    let mut spec = json!({ "containers": [{ "name": "web", "image": "web:1" }] });
    if let Some(class) = class {
        spec["priorityClassName"] = json!(class);
    }
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec })
}

/// A namespace with these labels.
fn namespace(labels: &[(&str, &str)]) -> Json {
    let mut metadata = json!({ "name": "tenant" });
    if let Some(l) = string_map(labels) {
        metadata["labels"] = l;
    }
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": metadata })
}

const GRANT: (&str, &str) = ("mus.patos.dev/boost", "allowed");
const CLASS: &str = "mus-latency-critical";
const WEIGHT: &str = "mus.patos.dev/weight";
const BOOST: &str = "mus.patos.dev/boost";
/// The finalizer the Job controller puts on its pods and removes when it has
/// counted them.
const JOB_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
const TENANT: &[&str] = &["system:authenticated", "tenant-devs"];
const ADMIN: &[&str] = &["system:authenticated", "mus:boost-admins"];
const TENANT_USER: &str = "dev@example.com";

/// What the pod policy decides about creating `object` in a namespace with `labels`.
fn create_pod(object: Json, labels: &[(&str, &str)]) -> Decision {
    decide(
        &policy("mus-boost-policy"),
        &Request {
            operation: "CREATE",
            resource: "pods",
            object,
            old_object: None,
            namespace: namespace(labels),
            groups: TENANT,
            username: TENANT_USER,
        },
    )
}

/// What the pod policy decides about the UPDATE `old` → `new` in a namespace with
/// `labels`.
fn update_pod(old: Json, new: Json, labels: &[(&str, &str)]) -> Decision {
    decide(
        &policy("mus-boost-policy"),
        &Request {
            operation: "UPDATE",
            resource: "pods",
            object: new,
            old_object: Some(old),
            namespace: namespace(labels),
            groups: TENANT,
            username: TENANT_USER,
        },
    )
}

#[test]
fn a_created_pod_is_checked_only_if_it_asks_for_a_boost() {
    // Not even evaluated: the pods that do not mention mus, in any namespace, so a
    // fail-closed policy cannot refuse them.
    assert_eq!(create_pod(pod(&[], None, &[]), &[]), NotMatched);
    let other = pod(&[("prometheus.io/scrape", "true")], Some("high"), &[]);
    assert_eq!(create_pod(other, &[]), NotMatched);

    // Asking outside the granted namespaces, by either route.
    for asks in [
        pod(&[(WEIGHT, "2048")], None, &[]),
        pod(&[(BOOST, " True ")], None, &[]),
        pod(&[], Some(CLASS), &[]),
    ] {
        assert_eq!(create_pod(asks.clone(), &[]), denied("Forbidden"), "{asks}");
        assert_eq!(create_pod(asks, &[GRANT]), Allowed);
    }
    // Mentioning an annotation without asking is not a boost.
    assert_eq!(
        create_pod(pod(&[(BOOST, "false")], None, &[]), &[]),
        Allowed
    );

    // Malformed values, even where boosts are granted.
    // An empty weight too: the agent cannot read it either.
    for (key, value) in [
        (WEIGHT, "9000"),
        (WEIGHT, "0"),
        (WEIGHT, "2k"),
        (WEIGHT, ""),
        (WEIGHT, "  "),
        (BOOST, "yes"),
        (BOOST, ""),
        (BOOST, " "),
    ] {
        assert_eq!(
            create_pod(pod(&[(key, value)], None, &[]), &[GRANT]),
            denied("Invalid"),
            "{key}={value:?}"
        );
    }
    assert_eq!(
        create_pod(pod(&[(WEIGHT, "")], None, &[]), &[]),
        denied("Invalid"),
        "nor outside the granted namespaces"
    );
}

#[test]
fn after_a_grant_is_revoked_only_updates_that_change_the_boost_are_refused() {
    // The namespace lost its label; its pods still carry what they asked for.
    let revoked: &[(&str, &str)] = &[];
    let weighted = |w: &str, finalizers: &[&str]| pod(&[(WEIGHT, w)], None, finalizers);

    // The Job controller removing its finalizer: not the tenant asking for anything;
    // also from a pod from before the policy, with a weight admission refuses today.
    for weight in ["2048", "99999"] {
        let (old, new) = (weighted(weight, &[JOB_FINALIZER]), weighted(weight, &[]));
        assert_eq!(update_pod(old, new, revoked), Allowed, "weight {weight}");
    }
    let classed = |finalizers: &[&str]| pod(&[], Some(CLASS), finalizers);
    assert_eq!(
        update_pod(classed(&[JOB_FINALIZER]), classed(&[]), revoked),
        Allowed
    );

    // Asking anew is refused: a changed weight, an added annotation.
    assert_eq!(
        update_pod(weighted("2048", &[]), weighted("4096", &[]), revoked),
        denied("Forbidden")
    );
    let both = pod(&[(WEIGHT, "2048"), (BOOST, "true")], None, &[]);
    assert_eq!(
        update_pod(weighted("2048", &[]), both, revoked),
        denied("Forbidden")
    );
    // Giving the boost up is not (the policy no longer even sees the pod).
    assert_eq!(
        update_pod(weighted("2048", &[]), pod(&[], None, &[]), revoked),
        NotMatched
    );
    // And a changed value is checked where boosts are granted.
    assert_eq!(
        update_pod(weighted("2048", &[]), weighted("9000", &[]), &[GRANT]),
        denied("Invalid")
    );
}

/// What the namespace-label policy decides about `operation` on `resource` (a
/// namespace or one of its subresources), from a namespace with labels `old` to
/// one with `new`, by a user in `groups`.
fn change_namespace(
    operation: &str,
    resource: &str,
    old: &[(&str, &str)],
    new: &[(&str, &str)],
    groups: &[&str],
) -> Decision {
    let object = namespace(new);
    decide(
        &policy("mus-boost-namespace-label"),
        &Request {
            operation,
            resource,
            old_object: (operation == "UPDATE").then(|| namespace(old)),
            namespace: object.clone(),
            object,
            groups,
            username: TENANT_USER,
        },
    )
}

#[test]
fn only_admins_change_the_grant_label_through_any_namespace_subresource() {
    let team: (&str, &str) = ("team", "web");
    for resource in ["namespaces", "namespaces/status", "namespaces/finalize"] {
        let update = |old: &[(&str, &str)], new: &[(&str, &str)], groups: &[&str]| {
            change_namespace("UPDATE", resource, old, new, groups)
        };
        assert_eq!(
            update(&[], &[GRANT], TENANT),
            denied("Forbidden"),
            "{resource}"
        );
        assert_eq!(
            update(&[GRANT], &[], TENANT),
            denied("Forbidden"),
            "{resource}"
        );
        let other = ("mus.patos.dev/boost", "yes");
        assert_eq!(update(&[GRANT], &[other], TENANT), denied("Forbidden"));
        // Other labels are the tenant's business.
        assert_eq!(
            update(&[GRANT], &[GRANT, team], TENANT),
            Allowed,
            "{resource}"
        );
        assert_eq!(update(&[], &[GRANT], ADMIN), Allowed, "{resource}");
        assert_eq!(
            update(&[], &[GRANT], &["system:masters"]),
            Allowed,
            "{resource}"
        );
    }
    assert_eq!(
        change_namespace("CREATE", "namespaces", &[], &[GRANT], TENANT),
        denied("Forbidden")
    );
    assert_eq!(
        change_namespace("CREATE", "namespaces", &[], &[team], TENANT),
        Allowed
    );
}

/// The annotation the agent follows to a static pod's cgroup: the policy names it.
const MIRROR: &str = mus_agent::pod::MIRROR_ANNOTATION;
/// A kubelet's config hash: what a mirror pod's annotation holds.
const HASH: &str = "6a3f1c9e0b2d4f5a8c7e9d1b3a5f7c2e";

/// What the mirror-pod policy decides about `operation` on a pod `old` → `new`
/// sent by `username`.
fn write_mirror(old: Option<Json>, new: Json, username: &str) -> Decision {
    decide(
        &policy("mus-mirror-pods-from-nodes"),
        &Request {
            operation: if old.is_some() { "UPDATE" } else { "CREATE" },
            resource: "pods",
            object: new,
            old_object: old,
            namespace: namespace(&[GRANT]),
            groups: TENANT,
            username,
        },
    )
}

#[test]
fn only_a_node_makes_a_mirror_pod_that_names_a_static_pods_cgroup() {
    let node = "system:node:node-a";
    let mirror = |hash: &str| pod(&[(MIRROR, hash)], None, &[]);
    // A tenant copying etcd's hash onto a pod of its own, boosted or not: the agent
    // would boost etcd's cgroup for it.
    assert_eq!(
        write_mirror(None, mirror(HASH), TENANT_USER),
        denied("Forbidden")
    );
    let boosted = pod(&[(MIRROR, HASH), (BOOST, "true")], None, &[]);
    assert_eq!(
        write_mirror(None, boosted, TENANT_USER),
        denied("Forbidden")
    );
    assert_eq!(
        write_mirror(Some(pod(&[], None, &[])), mirror(HASH), TENANT_USER),
        denied("Forbidden"),
        "nor added later"
    );
    assert_eq!(
        write_mirror(
            Some(mirror("0".repeat(32).as_str())),
            mirror(HASH),
            TENANT_USER
        ),
        denied("Forbidden"),
        "nor changed"
    );
    // The kubelet's own mirror pod, and anybody's update that leaves it as it was
    // (the Job controller's finalizer, a label).
    assert_eq!(write_mirror(None, mirror(HASH), node), Allowed);
    let finalized = pod(&[(MIRROR, HASH)], None, &[JOB_FINALIZER]);
    assert_eq!(
        write_mirror(Some(finalized), mirror(HASH), TENANT_USER),
        Allowed
    );
    // Every other pod never meets the policy.
    assert_eq!(
        write_mirror(None, pod(&[(BOOST, "true")], None, &[]), TENANT_USER),
        NotMatched
    );
}
