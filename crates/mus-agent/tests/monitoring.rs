//! The monitoring manifests against what the agent serves: the PodMonitor scrapes the
//! DaemonSet's metrics port, and the Grafana dashboard queries exactly the metrics the
//! agent exports, read from a real scrape with the scheduler's counters pinned (not
//! from a list copied here). Needs root, for the bpffs mount and the counters map.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::bpffs::BpfFs;
use common::manifests::{documents, text};
use k8s_openapi::api::apps::v1::DaemonSet;
use mus_agent::daemon::metrics::{DEFAULT_PORT, Metrics};
use serde_json::Value;

fn daemonset() -> DaemonSet {
    let doc = documents("mus-daemonset.yaml")
        .into_iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("a DaemonSet");
    serde_json::from_value(doc).expect("DaemonSet")
}

#[test]
fn the_podmonitor_scrapes_the_agents_metrics_port() {
    let docs = documents("monitoring/podmonitor.yaml");
    assert_eq!(docs.len(), 1);
    let pm = &docs[0];
    assert_eq!(pm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(pm["kind"], "PodMonitor");

    let ds = daemonset();
    let namespace = ds.metadata.namespace.clone().expect("namespace");
    assert_eq!(pm["metadata"]["namespace"], namespace.as_str());
    assert_eq!(
        pm["spec"]["namespaceSelector"]["matchNames"],
        serde_json::json!([namespace])
    );
    let pod_labels = ds
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selector = pm["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(
        !selector.is_empty()
            && selector
                .iter()
                .all(|(k, v)| pod_labels.get(k).map(String::as_str) == v.as_str()),
        "the selector {selector:?} does not pick the agent's pods {pod_labels:?}"
    );

    // The endpoint names the port on which the agent serves /metrics.
    let agent = ds
        .spec
        .template
        .spec
        .expect("pod spec")
        .containers
        .into_iter()
        .find(|c| c.name == "agent")
        .expect("the agent container");
    let port = agent
        .ports
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.container_port == i32::from(DEFAULT_PORT))
        .expect("the agent exposes its metrics port");
    let endpoints = pm["spec"]["podMetricsEndpoints"]
        .as_array()
        .expect("endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(
        endpoints[0]["port"].as_str(),
        port.name.as_deref(),
        "{endpoints:?}"
    );
    assert_eq!(endpoints[0]["path"], "/metrics");
    // The dashboard's node selector reads the label the relabeling sets.
    assert!(
        endpoints[0]["relabelings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["targetLabel"] == "node"
                && r["sourceLabels"] == serde_json::json!(["__meta_kubernetes_pod_node_name"])),
        "{endpoints:?}"
    );
}

#[test]
fn the_dashboard_queries_exactly_what_the_agent_exports() {
    let exported = exported_names();
    assert!(
        exported.iter().any(|n| n.starts_with("mus_sched_"))
            && exported.iter().any(|n| n.starts_with("mus_agent_")),
        "{exported:?}"
    );

    let dashboard: Value = serde_json::from_str(&text("monitoring/grafana/mus-dashboard.json"))
        .expect("dashboard JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() > 10, "{queries:?}");
    let mut queried = BTreeSet::new();
    for query in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "{query:?} reads no metric");
        queried.extend(names);
    }

    let unknown: Vec<&String> = queried.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics the agent does not export: {unknown:?}"
    );
    // A metric nobody charts is one the dashboard forgot (a new scheduler counter, say).
    let uncharted: Vec<&String> = exported.difference(&queried).collect();
    assert!(
        uncharted.is_empty(),
        "the dashboard charts none of {uncharted:?}"
    );
}

/// The names of every series family a scrape of the agent declares, with the
/// scheduler's counters pinned as mus-runner pins them.
fn exported_names() -> BTreeSet<String> {
    let bpf = BpfFs::mount();
    let _stats = bpf.create_stats();
    let metrics = Metrics::new(
        Duration::from_secs(30),
        Some(mus_common::stats_pin_path(&bpf.pin())),
    );
    let text = metrics.render();
    // Prometheus' text format 0.0.4 names each family's series in its TYPE line
    // (a counter's with _total); the agent exports no histograms or summaries.
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').expect("# TYPE name kind");
            assert!(matches!(kind, "counter" | "gauge"), "{l}");
            name.to_string()
        })
        .collect()
}

/// Every PromQL expression of the dashboard: the panels' targets (at any depth, rows
/// included) and the queries of its template variables.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn exprs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push(e.clone()),
                        _ => exprs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    exprs(&dashboard["panels"], &mut out);
    for var in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if var["type"] != "query" {
            continue;
        }
        let query = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .expect("a variable's query");
        // Grafana's label_values(<series selector>, <label>): the selector is PromQL.
        let selector = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.rsplit_once(','))
            .map(|(selector, _)| selector)
            .unwrap_or_else(|| panic!("{query:?} is not label_values(<selector>, <label>)"));
        out.push(selector.to_string());
    }
    out
}

/// The metric names a PromQL expression reads: identifiers outside label matchers,
/// ranges and strings that are neither called (functions) nor keywords or
/// aggregations, nor in the label list of `by`, `without`, `on`, `ignoring` or
/// `group_*`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Aggregations may be followed by `by (...)` before their parenthesis.
    const KEYWORDS: [&str; 19] = [
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' => i = past(&chars, i, '}'),
            '[' => i = past(&chars, i, ']'),
            '"' | '\'' | '`' => i = past_string(&chars, i),
            // a number or a duration (5m), or a Grafana variable ($node, ${node})
            c if c.is_ascii_digit() || c == '.' || c == '$' => {
                i += 1;
                while i < chars.len() && (word_char(chars[i]) || "{}.".contains(chars[i])) {
                    i += 1;
                }
            }
            c if word_char(c) => {
                let start = i;
                while i < chars.len() && word_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                let called = next == Some(&'(');
                if called && LABEL_LISTS.contains(&word.as_str()) {
                    let open = i + chars[i..].iter().position(|&c| c == '(').expect("(");
                    i = past(&chars, open, ')');
                } else if !called
                    && !LABEL_LISTS.contains(&word.as_str())
                    && !KEYWORDS.contains(&word.as_str())
                {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The index after the `close` that ends the bracket at `open`, strings skipped.
fn past(chars: &[char], open: usize, close: char) -> usize {
    let mut i = open + 1;
    while i < chars.len() && chars[i] != close {
        i = if "\"'`".contains(chars[i]) {
            past_string(chars, i)
        } else {
            i + 1
        };
    }
    i + 1
}

/// The index after the string literal that starts at `open`.
fn past_string(chars: &[char], open: usize) -> usize {
    let quote = chars[open];
    let mut i = open + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

#[test]
fn promql_names_are_told_from_functions_labels_and_keywords() {
    let expr = r#"sum by (reason, node) (rate(a_total{x="}",y=~"$node"}[$__rate_interval]))
        / on(node) group_left(pod) b:recorded or vector(0) offset 5m
        + count(c == 0) unless d > bool 1.5e3"#;
    assert_eq!(
        metric_names(expr),
        ["a_total", "b:recorded", "c", "d"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}
