//! The auto boosts' metrics: the weight each auto boost holds for each pod now,
//! and the changes of weight by direction (a restarted daemon starts both afresh).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// What the auto loop reports.
#[derive(Debug, Default)]
pub struct AutoMetrics {
    /// Weight held, by (object as `namespace/name`, pod as `namespace/name`).
    weights: Mutex<BTreeMap<(String, String), u32>>,
    raised: AtomicU64,
    lowered: AtomicU64,
}

impl AutoMetrics {
    pub fn set_weights(&self, weights: BTreeMap<(String, String), u32>) {
        if let Ok(mut slot) = self.weights.lock() {
            *slot = weights;
        }
    }

    /// Counts one change: `raised` or not (lowered).
    pub fn changed(&self, raised: bool) {
        let counter = if raised { &self.raised } else { &self.lowered };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn encode(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut weight = encoder.encode_descriptor(
            "cpuboost_auto_weight",
            "Weight an auto CPUBoost holds for each of its pods on this node now (1024: no boost).",
            None,
            MetricType::Gauge,
        )?;
        let weights = self.weights.lock().map(|w| w.clone()).unwrap_or_default();
        for ((cpuboost, pod), w) in &weights {
            ConstGauge::new(*w).encode(
                weight.encode_family(&[("cpuboost", cpuboost.as_str()), ("pod", pod.as_str())])?,
            )?;
        }
        let mut changes = encoder.encode_descriptor(
            "cpuboost_auto_changes",
            "Changes of an auto CPUBoost's weight on this node, by direction.",
            None,
            MetricType::Counter,
        )?;
        for (direction, counter) in [("raised", &self.raised), ("lowered", &self.lowered)] {
            ConstCounter::new(counter.load(Ordering::Relaxed))
                .encode(changes.encode_family(&[("direction", direction)])?)?;
        }
        Ok(())
    }
}
