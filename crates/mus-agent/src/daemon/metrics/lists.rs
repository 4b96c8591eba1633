//! How the daemon's LISTs and WATCHes of the API server fare, per resource: failures
//! counted, the time of the last complete list, and which lists a first reconcile
//! still waits for. An API server that is down does not make the agent unready (the
//! map keeps the last boosts), so these metrics are what shows an outage.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use kube::runtime::watcher::{self, Event};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// A kind the daemon lists and watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Pods,
    Node,
    Namespaces,
    CpuBoosts,
}

impl Kind {
    /// The `resource` label.
    fn label(self) -> &'static str {
        match self {
            Kind::Pods => "pods",
            Kind::Node => "node",
            Kind::Namespaces => "namespaces",
            Kind::CpuBoosts => "cpuboosts",
        }
    }

    /// The list, as `/readyz` names it.
    fn list(self) -> &'static str {
        match self {
            Kind::Pods => "the list of this node's pods",
            Kind::Node => "the list of this Node",
            Kind::Namespaces => "the list of namespaces",
            Kind::CpuBoosts => "the list of CPUBoost objects",
        }
    }
}

/// One resource's record.
#[derive(Clone, Debug, Default)]
struct Record {
    list_failures: u64,
    watch_failures: u64,
    /// When its last LIST completed (the watcher's `InitDone`).
    listed_at: Option<SystemTime>,
    /// The last failure, until the next list or event succeeds.
    error: Option<String>,
}

/// The record of every resource the daemon watches (its watcher has started).
#[derive(Debug, Default)]
pub struct Lists(Mutex<BTreeMap<Kind, Record>>);

impl Lists {
    /// Records one event of `resource`'s watcher stream and passes it on.
    pub fn observe<K>(
        &self,
        resource: Kind,
        event: Option<Result<Event<K>, watcher::Error>>,
    ) -> Option<Result<Event<K>, watcher::Error>> {
        let Ok(mut records) = self.0.lock() else {
            return event;
        };
        let record = records.entry(resource).or_default();
        match &event {
            Some(Ok(Event::InitDone)) => {
                record.listed_at = Some(SystemTime::now());
                record.error = None;
            }
            Some(Ok(Event::Apply(_) | Event::Delete(_))) => record.error = None,
            Some(Err(e)) => {
                match e {
                    watcher::Error::InitialListFailed(_) => record.list_failures += 1,
                    _ => record.watch_failures += 1,
                }
                record.error = Some(e.to_string());
            }
            Some(Ok(Event::Init | Event::InitApply(_))) | None => {}
        }
        event
    }

    /// The lists a first reconcile still waits for, for `/readyz`: each watched
    /// resource not listed yet, with its last failure.
    pub fn missing(&self) -> String {
        let Ok(records) = self.0.lock() else {
            return "the first lists".into();
        };
        let missing: Vec<String> = records
            .iter()
            .filter(|(_, r)| r.listed_at.is_none())
            .map(|(resource, r)| match &r.error {
                Some(e) => format!(
                    "{} ({} failed: {e})",
                    resource.list(),
                    r.list_failures + r.watch_failures
                ),
                None => resource.list().to_string(),
            })
            .collect();
        if missing.is_empty() {
            "the first lists".into()
        } else {
            missing.join(", ")
        }
    }

    pub(super) fn snapshot(&self) -> ListsSnapshot {
        ListsSnapshot(self.0.lock().map(|r| r.clone()).unwrap_or_default())
    }
}

/// One of a [`Record`]'s counts.
type Count = fn(&Record) -> u64;

/// The records at scrape time.
#[derive(Debug)]
pub(super) struct ListsSnapshot(BTreeMap<Kind, Record>);

impl ListsSnapshot {
    /// `mus_agent_api_{list,watch}_failures_total` and
    /// `mus_agent_api_last_list_timestamp_seconds`, by resource.
    pub(super) fn encode(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let failures: [(&str, &str, Count); 2] = [
            (
                "api_list_failures",
                "LISTs of the API server that failed (refused, unreachable, unreadable), by resource.",
                |r| r.list_failures,
            ),
            (
                "api_watch_failures",
                "WATCHes of the API server that failed to start or broke, by resource.",
                |r| r.watch_failures,
            ),
        ];
        for (name, help, value) in failures {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (resource, record) in &self.0 {
                ConstCounter::new(value(record))
                    .encode(family.encode_family(&[("resource", resource.label())])?)?;
            }
        }
        let mut listed = encoder.encode_descriptor(
            "api_last_list_timestamp_seconds",
            "When the last LIST of a resource completed (Unix time); absent before the first. A healthy watch does not re-list, so alert on the failure counters rather than on its age.",
            None,
            MetricType::Gauge,
        )?;
        for (resource, record) in &self.0 {
            let Some(at) = record.listed_at else { continue };
            let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default();
            ConstGauge::new(secs.as_secs_f64())
                .encode(listed.encode_family(&[("resource", resource.label())])?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    type PodEvent = Option<Result<Event<Pod>, watcher::Error>>;

    #[test]
    fn missing_names_each_watched_list_not_in_yet_with_its_last_failure() {
        let lists = Lists::default();
        assert_eq!(lists.missing(), "the first lists");
        let _: PodEvent = lists.observe(Kind::Pods, Some(Ok(Event::Init)));
        let _: PodEvent = lists.observe(Kind::Namespaces, Some(Ok(Event::Init)));
        assert_eq!(
            lists.missing(),
            "the list of this node's pods, the list of namespaces"
        );
        let _: PodEvent = lists.observe(Kind::Pods, Some(Ok(Event::InitDone)));
        let _: PodEvent = lists.observe(
            Kind::Namespaces,
            Some(Err(watcher::Error::NoResourceVersion)),
        );
        let missing = lists.missing();
        assert!(
            missing.starts_with("the list of namespaces (1 failed: no metadata.resourceVersion"),
            "{missing}"
        );
        assert!(!missing.contains("pods"), "{missing}");
    }
}
