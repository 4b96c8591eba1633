//! Label and field selectors as the API server applies them to a LIST or WATCH, for
//! the fake cluster: `a=b`, `a!=b`, `a in (b,c)`, `a notin (b)`, `a`, `!a`, ANDed.

use std::collections::BTreeMap;

use serde_json::Value;

use super::api::Call;

/// What a LIST or WATCH selects: its field selector (`path=value` terms, the path
/// dotted into the object's JSON) and its label selector.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    fields: Vec<(String, String)>,
    labels: Option<String>,
}

impl Selection {
    pub fn of(call: &Call) -> Selection {
        let fields = call
            .param("fieldSelector")
            .map(|s| {
                s.split(',')
                    .filter_map(|t| t.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Selection {
            fields,
            labels: call.param("labelSelector"),
        }
    }

    pub fn matches<K: serde::Serialize>(&self, object: &K) -> bool {
        let json = serde_json::to_value(object).expect("json");
        let at = |path: &str| {
            path.split('.')
                .try_fold(&json, |v, key| v.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let labels: BTreeMap<String, String> = json
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        self.fields
            .iter()
            .all(|(path, value)| at(path).as_deref() == Some(value))
            && self.labels.as_deref().is_none_or(|s| selects(s, &labels))
    }
}

/// Whether label selector `selector` selects `labels`.
pub fn selects(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    terms(selector).iter().all(|term| {
        let term = term.trim();
        if let Some(key) = term.strip_prefix('!') {
            return !labels.contains_key(key);
        }
        for (op, wanted) in [(" notin ", false), (" in ", true)] {
            if let Some((key, set)) = term.split_once(op) {
                let set: Vec<&str> = set
                    .trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .collect();
                let value = labels.get(key.trim());
                return match value {
                    Some(v) => set.contains(&v.as_str()) == wanted,
                    None => !wanted,
                };
            }
        }
        if let Some((key, value)) = term.split_once("!=") {
            return labels.get(key).map(String::as_str) != Some(value);
        }
        if let Some((key, value)) = term.split_once('=') {
            let value = value.trim_start_matches('=');
            return labels.get(key).map(String::as_str) == Some(value);
        }
        term.is_empty() || labels.contains_key(term)
    })
}

/// The selector's terms: split at commas outside parentheses.
fn terms(selector: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&selector[start..]);
    out
}
