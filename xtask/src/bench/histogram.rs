//! Latency histograms (cyclictest's, as the guest prints them) and their percentiles.

use std::collections::BTreeMap;

/// A latency histogram: value (e.g. microseconds) -> number of samples.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Histogram {
    buckets: BTreeMap<u64, u64>,
}

impl Histogram {
    pub fn add(&mut self, value: u64, count: u64) {
        if count > 0 {
            *self.buckets.entry(value).or_default() += count;
        }
    }

    pub fn total(&self) -> u64 {
        self.buckets.values().sum()
    }

    pub fn max(&self) -> Option<u64> {
        self.buckets.keys().next_back().copied()
    }

    /// Nearest-rank percentile: the smallest value with at least `ceil(q/100 * total)`
    /// samples at or below it. `q` in (0, 100].
    pub fn percentile(&self, q: f64) -> Option<u64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        // (less a hair, so that 99.9% of 1000 is rank 999, not 1000 by rounding)
        let rank = ((q / 100.0) * total as f64 - 1e-9).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (&value, &count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(value);
            }
        }
        self.max()
    }

    /// The percentage of samples at or above `value`; None without samples. A tail
    /// count says how often a wait happened where a percentile says only how long the
    /// n-th worst one was.
    pub fn pct_at_least(&self, value: u64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let over: u64 = self.buckets.range(value..).map(|(_, c)| c).sum();
        Some(100.0 * over as f64 / total as f64)
    }

    /// Parses `value:count` pairs (zero-padded decimals, as cyclictest prints them).
    pub fn add_pairs(&mut self, text: &str) -> anyhow::Result<()> {
        for pair in text.split_whitespace() {
            let (v, c) = pair
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("histogram pair without ':': {pair:?}"))?;
            self.add(parse_padded(v)?, parse_padded(c)?);
        }
        Ok(())
    }
}

/// A decimal that may carry leading zeros ("000113"), read as decimal, never octal.
pub fn parse_padded(s: &str) -> anyhow::Result<u64> {
    let t = s.trim().trim_start_matches('0');
    if t.is_empty() && !s.trim().is_empty() {
        return Ok(0);
    }
    t.parse()
        .map_err(|_| anyhow::anyhow!("not a decimal number: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zero_padded_decimals_as_decimal() {
        assert_eq!(parse_padded("000113").unwrap(), 113);
        assert_eq!(parse_padded("010").unwrap(), 10); // octal would say 8
        assert_eq!(parse_padded("0000").unwrap(), 0);
        assert!(parse_padded("").is_err());
        assert!(parse_padded("12a").is_err());
    }

    #[test]
    fn histogram_percentiles_are_nearest_rank() {
        let mut h = Histogram::default();
        // 1000 samples: 990 at 100 us, 9 at 500 us, 1 at 9000 us.
        h.add_pairs("000100:000990 000500:000009").unwrap();
        h.add_pairs("009000:000001 000777:000000").unwrap();
        assert_eq!(h.total(), 1000);
        assert_eq!(h.percentile(50.0), Some(100));
        assert_eq!(h.percentile(99.0), Some(100));
        assert_eq!(h.percentile(99.1), Some(500));
        assert_eq!(h.percentile(99.9), Some(500));
        assert_eq!(h.percentile(100.0), Some(9000));
        assert_eq!(h.max(), Some(9000));
        assert_eq!(Histogram::default().percentile(99.0), None);
        assert!(h.add_pairs("12").is_err());
        // the tail as a share: 10 samples of 1000 at or above 500 us
        assert_eq!(h.pct_at_least(500), Some(1.0));
        assert_eq!(h.pct_at_least(501), Some(0.1));
        assert_eq!(Histogram::default().pct_at_least(1), None);
    }
}
