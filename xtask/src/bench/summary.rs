//! Medians and spreads per condition, the issue-4 target checks, and the Markdown summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::results::{Row, share_theory_pct};
use super::stats::Spread;

/// The conditions of the latency and Redis benchmarks, in the order tables show them.
pub const CONDITIONS: &[&str] = &[
    "stock_idle",
    "stock_noise",
    "stock_knobs",
    "mus_empty",
    "mus_boost",
];
/// The overhead benchmark's conditions (no noise).
pub const OVERHEAD_CONDITIONS: &[&str] = &["stock_idle", "mus_empty_idle"];

pub fn label(condition: &str) -> &str {
    match condition {
        "stock_idle" => "stock, idle",
        "stock_noise" => "stock, noise",
        "stock_knobs" => "stock, noise, cpu.weight=10000 + cpu.idle=1",
        "mus_empty" => "mus, empty map, noise",
        "mus_boost" => "mus, target boosted, noise",
        "mus_empty_idle" => "mus, empty map",
        other => other,
    }
}

/// Short labels for plot axes.
pub fn short_label(condition: &str) -> &str {
    match condition {
        "stock_idle" => "stock idle",
        "stock_noise" => "stock+noise",
        "stock_knobs" => "stock+noise+knobs",
        "mus_empty" => "mus empty+noise",
        "mus_boost" => "mus boost+noise",
        "mus_empty_idle" => "mus empty map",
        other => other,
    }
}

/// Every (bench, condition, metric) with the median and range of its repeats.
#[derive(Debug, Default)]
pub struct Aggregate {
    map: BTreeMap<(String, String, String), Spread>,
}

impl Aggregate {
    pub fn from_rows(rows: &[Row]) -> Aggregate {
        let mut values: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
        for r in rows {
            values
                .entry((r.bench.clone(), r.condition.clone(), r.metric.clone()))
                .or_default()
                .push(r.value);
        }
        Aggregate {
            map: values
                .into_iter()
                .filter_map(|(k, v)| Some((k, Spread::of(&v)?)))
                .collect(),
        }
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

/// One issue-4 target: what was asked, the figure, and whether it was met (None: not
/// measured in this run).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub target: String,
    pub figure: String,
    pub met: Option<bool>,
}

fn check(target: impl Into<String>, figure: impl Into<String>, met: Option<bool>) -> Check {
    Check {
        target: target.into(),
        figure: figure.into(),
        met,
    }
}

/// The targets of issue 4, on the medians of the repeats.
pub fn checks(agg: &Aggregate) -> Vec<Check> {
    let mut out = Vec::new();
    if agg.has_bench("latency") {
        for (metric, name, limit) in [("p99_us", "p99", 1.5), ("p999_us", "p99.9", 2.0)] {
            let target =
                format!("latency: boosted probe under noise {name} <= {limit}x stock idle {name}");
            match (
                agg.median("latency", "mus_boost", metric),
                agg.median("latency", "stock_idle", metric),
            ) {
                (Some(b), Some(idle)) if idle > 0.0 => out.push(check(
                    target,
                    format!("{b:.0} us vs {idle:.0} us idle = {:.2}x", b / idle),
                    Some(b <= limit * idle),
                )),
                _ => out.push(check(target, "not measured", None)),
            }
        }
    }
    if agg.has_bench("redis") {
        for (metric, name) in [("p99_ms", "p99"), ("p999_ms", "p99.9")] {
            let boost = agg.median("redis", "mus_boost", metric);
            let target =
                format!("redis: {name} with mus boosted below every stock condition with noise");
            let stock: Vec<(&str, f64)> = ["stock_noise", "stock_knobs"]
                .iter()
                .filter_map(|c| Some((*c, agg.median("redis", c, metric)?)))
                .collect();
            match boost {
                Some(b) if !stock.is_empty() => {
                    let best = stock.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
                    let list: Vec<String> =
                        stock.iter().map(|(c, v)| format!("{c} {v:.3}")).collect();
                    out.push(check(
                        target,
                        format!("{b:.3} ms vs {}", list.join(", ")),
                        Some(b < best),
                    ));
                }
                _ => out.push(check(target, "not measured", None)),
            }
            let target = format!("redis: {name} with mus boosted <= 1.5x Redis alone");
            match (boost, agg.median("redis", "stock_idle", metric)) {
                (Some(b), Some(alone)) if alone > 0.0 => out.push(check(
                    target,
                    format!("{b:.3} ms vs {alone:.3} ms alone = {:.2}x", b / alone),
                    Some(b <= 1.5 * alone),
                )),
                _ => out.push(check(target, "not measured", None)),
            }
        }
    }
    for w in agg.share_weights() {
        let theory = share_theory_pct(w as f64);
        let cond = format!("w{w}");
        if let Some(s) = agg.median("share", &cond, "share_pct") {
            out.push(check(
                format!("share: weight {w} within 3 points of {theory:.1}%"),
                format!("{s:.1}% ({:+.1} points)", s - theory),
                Some((s - theory).abs() <= 3.0),
            ));
        }
    }
    if agg.has_bench("overhead") {
        let target = "overhead: hackbench with an empty map within 5% of stock";
        match (
            agg.median("overhead", "mus_empty_idle", "seconds"),
            agg.median("overhead", "stock_idle", "seconds"),
        ) {
            (Some(m), Some(s)) if s > 0.0 => out.push(check(
                target,
                format!("{m:.3} s vs {s:.3} s = {:+.1}%", 100.0 * (m / s - 1.0)),
                Some(m <= 1.05 * s),
            )),
            _ => out.push(check(target, "not measured", None)),
        }
    }
    out
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

/// Facts about the run that the summary states.
#[derive(Debug, Default, Clone)]
pub struct Meta {
    pub command: String,
    pub date: String,
    pub kernel: String,
    pub scheduler: String,
    pub repeats: u32,
    pub guest_seconds: f64,
    pub dataset: String,
    pub notes: Vec<String>,
}

pub fn markdown(meta: &Meta, agg: &Aggregate, checks: &[Check]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# SCX_MUS benchmark summary\n");
    let _ = writeln!(
        md,
        "Generated by `{}` on {} (guest kernel {}, scheduler `{}`; {} repeat(s) per condition, interleaved; guest run {:.0} s). Data: `{}`.\n",
        meta.command,
        meta.date,
        meta.kernel,
        meta.scheduler,
        meta.repeats,
        meta.guest_seconds,
        meta.dataset
    );
    let _ = writeln!(
        md,
        "Cells are the median of the repeats, with (min–max) across repeats. 2-vCPU TCG guest: compare conditions inside this run only.\n"
    );
    for n in &meta.notes {
        let _ = writeln!(md, "- {n}");
    }
    if !meta.notes.is_empty() {
        md.push('\n');
    }

    if !checks.is_empty() {
        let _ = writeln!(
            md,
            "## Issue-4 targets\n\n| target | figure | result |\n| --- | --- | --- |"
        );
        for c in checks {
            let result = match c.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            let _ = writeln!(md, "| {} | {} | {} |", c.target, c.figure, result);
        }
        md.push('\n');
    }
    if agg.has_bench("latency") {
        let _ = writeln!(
            md,
            "## Wake-up latency (cyclictest, SCHED_OTHER, target cgroup), µs\n\n| condition | p50 | p99 | p99.9 | max |\n| --- | --- | --- | --- | --- |"
        );
        for c in CONDITIONS {
            let f = |m| fmt_spread(agg.get("latency", c, m), 0);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                label(c),
                f("p50_us"),
                f("p99_us"),
                f("p999_us"),
                f("max_us")
            );
        }
        md.push('\n');
    }
    if agg.has_bench("redis") {
        let _ = writeln!(
            md,
            "## Redis GET at a fixed request rate (redis-rate, open loop; server and client in the target cgroup), ms and achieved requests/s\n\nLatency runs from each request's scheduled send time, so a reply that falls behind delays the requests queued after it, and they count.\n\n| condition | p50 | p99 | p99.9 | max | achieved rate |\n| --- | --- | --- | --- | --- | --- |"
        );
        for c in CONDITIONS {
            let f = |m| fmt_spread(agg.get("redis", c, m), 3);
            let name = if *c == "stock_idle" {
                "stock, Redis alone"
            } else {
                label(c)
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                name,
                f("p50_ms"),
                f("p99_ms"),
                f("p999_ms"),
                f("max_ms"),
                fmt_spread(agg.get("redis", c, "rps"), 0)
            );
        }
        md.push('\n');
    }
    let weights = agg.share_weights();
    if !weights.is_empty() {
        let _ = writeln!(
            md,
            "## CPU share of the target (2 hogs) against noise (2 hogs), mus loaded\n\n| target weight | measured share % | theory % |\n| --- | --- | --- |"
        );
        for w in weights {
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} |",
                if w == 1024 {
                    "1024 (not in map)".to_string()
                } else {
                    w.to_string()
                },
                fmt_spread(agg.get("share", &format!("w{w}"), "share_pct"), 1),
                share_theory_pct(w as f64)
            );
        }
        md.push('\n');
    }
    if agg.has_bench("overhead") {
        let _ = writeln!(
            md,
            "## Overhead (hackbench, no noise), seconds per run\n\n| condition | time |\n| --- | --- |"
        );
        for c in OVERHEAD_CONDITIONS {
            let _ = writeln!(
                md,
                "| {} | {} |",
                label(c),
                fmt_spread(agg.get("overhead", c, "seconds"), 3)
            );
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(bench: &str, cond: &str, rep: u32, metric: &str, value: f64) -> Row {
        Row {
            bench: bench.into(),
            condition: cond.into(),
            repeat: rep,
            metric: metric.into(),
            value,
        }
    }

    fn sample() -> Vec<Row> {
        let mut rows = Vec::new();
        for (rep, k) in [(1, 1.0), (2, 1.2), (3, 0.9)] {
            rows.push(row("latency", "stock_idle", rep, "p99_us", 200.0 * k));
            rows.push(row("latency", "stock_idle", rep, "p999_us", 1000.0 * k));
            rows.push(row("latency", "mus_boost", rep, "p99_us", 250.0 * k));
            rows.push(row("latency", "mus_boost", rep, "p999_us", 2500.0 * k));
            rows.push(row("redis", "stock_idle", rep, "p99_ms", 1.0 * k));
            rows.push(row("redis", "stock_idle", rep, "p999_ms", 2.0 * k));
            rows.push(row("redis", "stock_noise", rep, "p99_ms", 4.0 * k));
            rows.push(row("redis", "stock_noise", rep, "p999_ms", 5.0 * k));
            rows.push(row("redis", "stock_knobs", rep, "p99_ms", 3.0 * k));
            rows.push(row("redis", "stock_knobs", rep, "p999_ms", 2.5 * k));
            rows.push(row("redis", "mus_boost", rep, "p99_ms", 1.4 * k));
            rows.push(row("redis", "mus_boost", rep, "p999_ms", 2.8 * k));
            rows.push(row("share", "w4096", rep, "share_pct", 78.0 * k.min(1.0)));
            rows.push(row("share", "w2048", rep, "share_pct", 66.0));
            rows.push(row("overhead", "stock_idle", rep, "seconds", 10.0 * k));
            rows.push(row("overhead", "mus_empty_idle", rep, "seconds", 10.4 * k));
        }
        rows
    }

    #[test]
    fn aggregates_medians_and_ranges() {
        let agg = Aggregate::from_rows(&sample());
        let s = agg.get("latency", "stock_idle", "p99_us").unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (200.0, 180.0, 240.0, 3));
        assert_eq!(agg.share_weights(), [2048, 4096]);
        assert_eq!(fmt_spread(Some(s), 0), "200 (180–240)");
        assert_eq!(fmt_spread(None, 0), "–");
    }

    #[test]
    fn checks_follow_the_issue_targets() {
        let checks = checks(&Aggregate::from_rows(&sample()));
        let met = |prefix: &str| {
            checks
                .iter()
                .find(|c| c.target.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix}: {checks:?}"))
                .met
        };
        // 250/200 = 1.25 <= 1.5; 2500/1000 = 2.5 > 2.
        assert_eq!(met("latency: boosted probe under noise p99 "), Some(true));
        assert_eq!(met("latency: boosted probe under noise p99.9"), Some(false));
        // redis p99 1.4 < min(4, 3) and <= 1.5 * 1.0; p99.9 2.8 > knobs' 2.5, and 2.8 <= 3.0.
        assert_eq!(met("redis: p99 with mus boosted below"), Some(true));
        assert_eq!(met("redis: p99 with mus boosted <="), Some(true));
        assert_eq!(met("redis: p99.9 with mus boosted below"), Some(false));
        assert_eq!(met("redis: p99.9 with mus boosted <="), Some(true));
        // share 78 vs 80 (w4096), 66 vs 66.7 (w2048).
        assert_eq!(met("share: weight 4096"), Some(true));
        assert_eq!(met("share: weight 2048"), Some(true));
        // 10.4 / 10 = +4%.
        assert_eq!(met("overhead"), Some(true));
    }

    #[test]
    fn missing_conditions_are_not_measured_and_absent_benches_have_no_checks() {
        let rows = vec![row("latency", "stock_idle", 1, "p99_us", 200.0)];
        let checks = checks(&Aggregate::from_rows(&rows));
        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c.met.is_none()));
    }

    #[test]
    fn markdown_has_the_tables_and_verdicts() {
        let agg = Aggregate::from_rows(&sample());
        let md = markdown(
            &Meta {
                command: "cargo xtask bench all".into(),
                repeats: 3,
                ..Meta::default()
            },
            &agg,
            &checks(&agg),
        );
        assert!(md.contains("`cargo xtask bench all`"));
        assert!(
            md.contains("| stock, idle | – | 200 (180–240) | 1000 (900–1200) | – |"),
            "{md}"
        );
        assert!(md.contains("**missed**"));
        assert!(md.contains("| 4096 | 78.0 (70.2–78.0) | 80.0 |"), "{md}");
    }
}
