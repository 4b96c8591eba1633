//! Which namespaces the daemon watches: those the policy's namespace selectors
//! select, chosen by the API server. Each selector becomes a label selector on a
//! watch of its own (Kubernetes has no "or" of selectors; a policy has at most two,
//! and two equal ones share a watch), so a namespace no selector matches is never
//! sent, stored or woken for. A pass still applies the selectors to the labels it
//! has: a namespace on one watch is not thereby selected by the other selector.
//!
//! Every selector the policy accepts has a label selector of the same meaning,
//! unless a key or value is not a valid label key or value (no namespace can carry
//! such a label, and the API server would refuse or misread the selector). Then
//! that watch takes every namespace, and the selector is applied here only, with a
//! warning: the daemon works as before, at the memory cost this module avoids.

use std::collections::BTreeSet;

use kube::core::{Expression, Selector as LabelSelector};
use kube::runtime::watcher;

use crate::daemon::grant::policy::{Policy, is_dns_subdomain};
use crate::daemon::grant::selector::{Operator, Selector};

/// The label selector equal to `selector` ("" for one that selects everything), or
/// why there is none.
pub fn label_selector(selector: &Selector) -> Result<String, String> {
    let mut out = LabelSelector::default();
    for (key, value) in &selector.match_labels {
        check(key, [value])?;
        out.extend(Expression::Equal(key.clone(), value.clone()));
    }
    for r in &selector.match_expressions {
        check(&r.key, &r.values)?;
        let (key, values) = (r.key.clone(), r.values.iter().cloned().collect());
        out.extend(match r.operator {
            Operator::In => Expression::In(key, values),
            Operator::NotIn => Expression::NotIn(key, values),
            Operator::Exists => Expression::Exists(key),
            Operator::DoesNotExist => Expression::DoesNotExist(key),
        });
    }
    Ok(out.to_string())
}

/// The watches of namespaces `policy` needs: none when it selects no namespaces,
/// one per distinct selector otherwise, a single unrestricted one when a selector
/// takes every namespace.
pub fn namespace_watches(policy: &Policy) -> Vec<watcher::Config> {
    let mut selectors = BTreeSet::new();
    for (field, selector) in [
        ("classNamespaceSelector", &policy.class_namespaces),
        (
            "annotations.namespaceSelector",
            &policy.annotation_namespaces,
        ),
    ] {
        let Some(selector) = selector else { continue };
        match label_selector(selector) {
            Ok(labels) => selectors.insert(labels),
            Err(reason) => {
                tracing::warn!(
                    "the boost policy's {field} cannot be sent to the API server as a label selector ({reason}): the agent lists every namespace and selects them itself"
                );
                selectors.insert(String::new())
            }
        };
    }
    if selectors.contains("") {
        selectors = BTreeSet::from([String::new()]);
    }
    selectors
        .into_iter()
        .map(|labels| match labels.as_str() {
            "" => watcher::Config::default(),
            labels => watcher::Config::default().labels(labels),
        })
        .collect()
}

/// Whether `key` and every one of `values` are a valid label key and values.
fn check<'a>(key: &str, values: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if !prefix.is_none_or(is_dns_subdomain) || name.is_empty() || !is_label_value(name) {
        return Err(format!("{key:?} is not a label key"));
    }
    match values.into_iter().find(|v| !is_label_value(v)) {
        Some(v) => Err(format!("{v:?} is not a label value")),
        None => Ok(()),
    }
}

/// A label value: empty, or up to 63 letters, digits, `-`, `_` and `.`, beginning
/// and ending with a letter or digit.
fn is_label_value(v: &str) -> bool {
    let edge = |b: Option<&u8>| b.is_none_or(u8::is_ascii_alphanumeric);
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && edge(v.as_bytes().first())
        && edge(v.as_bytes().last())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn policy(text: &str) -> Policy {
        Policy::parse(text, Path::new("test")).expect("policy")
    }

    fn selectors(text: &str) -> Vec<Option<String>> {
        namespace_watches(&policy(text))
            .into_iter()
            .map(|c| c.label_selector)
            .collect()
    }

    #[test]
    fn every_operator_has_its_label_selector() {
        let p = policy(
            "annotations:
  namespaceSelector:
    matchLabels: {mus.patos.dev/boost: allowed}
    matchExpressions:
      - {key: tier, operator: In, values: [web, db]}
      - {key: team, operator: NotIn, values: [batch]}
      - {key: owner, operator: Exists}
      - {key: legacy, operator: DoesNotExist}
",
        );
        let sel = p.annotation_namespaces.as_ref().expect("selector");
        assert_eq!(
            label_selector(sel).as_deref(),
            Ok("mus.patos.dev/boost=allowed,tier in (db,web),team notin (batch),owner,!legacy")
        );
        assert_eq!(label_selector(&Selector::default()).as_deref(), Ok(""));
    }

    #[test]
    fn one_watch_per_distinct_selector_and_none_without_one() {
        assert!(selectors("priorityClasses: {critical: 4096}").is_empty());
        let one = "annotations: {namespaceSelector: {matchLabels: {boost: allowed}}}";
        assert_eq!(selectors(one), [Some("boost=allowed".to_string())]);
        assert_eq!(
            selectors(&format!(
                "{one}\nclassNamespaceSelector: {{matchLabels: {{boost: allowed}}}}"
            )),
            [Some("boost=allowed".to_string())],
            "equal selectors share a watch"
        );
        assert_eq!(
            selectors(&format!(
                "{one}\nclassNamespaceSelector: {{matchExpressions: [{{key: tier, operator: Exists}}]}}"
            )),
            [Some("boost=allowed".to_string()), Some("tier".to_string())]
        );
        assert_eq!(
            selectors(&format!("{one}\nclassNamespaceSelector: {{}}")),
            [None],
            "a selector of every namespace makes one watch of them all"
        );
    }

    #[test]
    fn a_selector_the_api_server_would_misread_watches_every_namespace() {
        // Sent as is, "allowed,team=x" would select by a second label.
        let sneaky = "annotations: {namespaceSelector: {matchLabels: {boost: 'allowed,team=x'}}}";
        assert_eq!(selectors(sneaky), [None]);
        let sel = policy(sneaky).annotation_namespaces.expect("selector");
        assert!(
            label_selector(&sel)
                .unwrap_err()
                .contains("not a label value")
        );
        for key in ["a b", "/x", "Example.com/x", "x/", "-x"] {
            assert!(check(key, []).is_err(), "{key}");
        }
        for key in ["x", "mus.patos.dev/boost", "a_b.c-d"] {
            assert!(check(key, []).is_ok(), "{key}");
        }
    }
}
