//! From the CSV's rows to what the summary, the plots and the targets read: per
//! (benchmark, condition, metric) the median and range of the repeats, each repeat's
//! value, repeats paired across conditions, and ratios of medians.

use std::collections::BTreeMap;

use super::results::Row;

/// Median and range of one condition's repeats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

/// One measured series: (bench, condition, metric).
pub type Series<'a> = (&'a str, &'a str, &'a str);

type Key = (String, String, String);

/// Every (bench, condition, metric) with the median and range of its repeats, and the
/// value of each repeat (for targets judged repeat by repeat).
#[derive(Debug, Default)]
pub struct Aggregate {
    map: BTreeMap<Key, Spread>,
    repeats: BTreeMap<Key, BTreeMap<u32, f64>>,
}

impl Aggregate {
    pub fn from_rows(rows: &[Row]) -> Aggregate {
        let mut repeats: BTreeMap<Key, BTreeMap<u32, f64>> = BTreeMap::new();
        for r in rows {
            repeats
                .entry((r.bench.clone(), r.condition.clone(), r.metric.clone()))
                .or_default()
                .insert(r.repeat, r.value);
        }
        Aggregate {
            map: repeats
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.clone(),
                        Spread::of(&v.values().copied().collect::<Vec<_>>())?,
                    ))
                })
                .collect(),
            repeats,
        }
    }

    /// The value of each repeat (none if not measured).
    pub fn per_repeat(&self, bench: &str, condition: &str, metric: &str) -> BTreeMap<u32, f64> {
        self.repeats
            .get(&(bench.to_string(), condition.to_string(), metric.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn get(&self, bench: &str, condition: &str, metric: &str) -> Option<Spread> {
        self.map
            .get(&(bench.to_string(), condition.to_string(), metric.to_string()))
            .copied()
    }

    pub fn median(&self, bench: &str, condition: &str, metric: &str) -> Option<f64> {
        self.get(bench, condition, metric).map(|s| s.median)
    }

    pub fn has_bench(&self, bench: &str) -> bool {
        self.map.keys().any(|(b, _, _)| b == bench)
    }

    pub fn has_condition(&self, bench: &str, condition: &str) -> bool {
        self.map
            .keys()
            .any(|(b, c, _)| b == bench && c == condition)
    }

    /// Every (bench, condition) whose condition is scheduler `sched`'s ("<sched>_..."),
    /// in order.
    pub fn conditions_of(&self, sched: &str) -> Vec<(String, String)> {
        let prefix = format!("{sched}_");
        let mut out: Vec<(String, String)> = self
            .map
            .keys()
            .filter(|(_, c, _)| c.starts_with(&prefix))
            .map(|(b, c, _)| (b.clone(), c.clone()))
            .collect();
        out.dedup();
        out
    }

    /// The repeats that measured `a` and every one of `refs`, as (repeat, a's value, the
    /// smallest of the refs' values in that repeat): "below every reference" reads
    /// `a < b`.
    pub fn paired(&self, a: Series, refs: &[Series]) -> Vec<(u32, f64, f64)> {
        let rv: Vec<BTreeMap<u32, f64>> = refs
            .iter()
            .map(|s| self.per_repeat(s.0, s.1, s.2))
            .collect();
        self.per_repeat(a.0, a.1, a.2)
            .into_iter()
            .filter_map(|(r, x)| {
                let b = rv
                    .iter()
                    .map(|m| m.get(&r).copied())
                    .collect::<Option<Vec<f64>>>()?
                    .into_iter()
                    .fold(f64::INFINITY, f64::min);
                b.is_finite().then_some((r, x, b))
            })
            .collect()
    }

    /// The ratio of two conditions' medians of `metric` (None unless both were measured
    /// and the second is positive).
    pub fn median_ratio(&self, bench: &str, a: &str, b: &str, metric: &str) -> Option<f64> {
        match (self.median(bench, a, metric), self.median(bench, b, metric)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        }
    }

    /// The share benchmark's conditions ("w2048", ...), by weight.
    pub fn share_weights(&self) -> Vec<u32> {
        let mut w: Vec<u32> = self
            .map
            .keys()
            .filter(|(b, _, m)| b == "share" && m == "share_pct")
            .filter_map(|(_, c, _)| c.strip_prefix('w')?.parse().ok())
            .collect();
        w.sort_unstable();
        w.dedup();
        w
    }
}

/// "median (min–max)" with `decimals` decimals.
pub fn fmt_spread(s: Option<Spread>, decimals: usize) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.n == 1 => format!("{:.*}", decimals, s.median),
        Some(s) => format!(
            "{:.*} ({:.*}–{:.*})",
            decimals, s.median, decimals, s.min, decimals, s.max
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::results::row;

    #[test]
    fn spread_is_median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Spread::of(&[4.0, 1.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN, 5.0]).unwrap().median, 5.0);
    }

    fn sample() -> Vec<Row> {
        let mut rows = Vec::new();
        for (rep, k) in [(1, 1.0), (2, 1.2), (3, 0.9)] {
            rows.push(row("latency", "stock_idle", rep, "p99_us", 200.0 * k));
            rows.push(row("latency", "stock_knobs", rep, "p99_us", 150.0 * k));
            rows.push(row("latency", "mus_boost", rep, "p99_us", 250.0 * k));
            rows.push(row("share", "w4096", rep, "share_pct", 78.0));
            rows.push(row("share", "w2048", rep, "share_pct", 66.0));
        }
        // a repeat that measured mus alone pairs with nothing
        rows.push(row("latency", "mus_boost", 4, "p99_us", 400.0));
        rows
    }

    #[test]
    fn aggregates_medians_ranges_and_repeats() {
        let agg = Aggregate::from_rows(&sample());
        let s = agg.get("latency", "stock_idle", "p99_us").unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (200.0, 180.0, 240.0, 3));
        assert_eq!(agg.share_weights(), [2048, 4096]);
        assert_eq!(fmt_spread(Some(s), 0), "200 (180–240)");
        assert_eq!(fmt_spread(None, 0), "–");
        let r = agg.per_repeat("latency", "mus_boost", "p99_us");
        assert_eq!(
            r.into_iter().collect::<Vec<_>>(),
            [(1, 250.0), (2, 300.0), (3, 225.0), (4, 400.0)]
        );
        assert!(agg.per_repeat("latency", "nothing", "p99_us").is_empty());
    }

    #[test]
    fn pairs_repeats_and_divides_medians() {
        let agg = Aggregate::from_rows(&sample());
        let refs = [
            ("latency", "stock_idle", "p99_us"),
            ("latency", "stock_knobs", "p99_us"),
        ];
        // the smaller reference of each repeat; repeat 4 has none
        assert_eq!(
            agg.paired(("latency", "mus_boost", "p99_us"), &refs),
            [(1, 250.0, 150.0), (2, 300.0, 180.0), (3, 225.0, 135.0)]
        );
        assert!(
            agg.paired(
                ("latency", "mus_boost", "p99_us"),
                &[("latency", "x", "p99_us")]
            )
            .is_empty()
        );
        // medians 275 (of four repeats) and 200
        assert_eq!(
            agg.median_ratio("latency", "mus_boost", "stock_idle", "p99_us"),
            Some(1.375)
        );
        assert_eq!(
            agg.median_ratio("latency", "mus_boost", "nothing", "p99_us"),
            None
        );
    }
}
