//! Medians and spreads per condition, and the Markdown summary: the targets (see
//! checks.rs), the peers table, and one table per benchmark.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::checks::Check;
use super::results::{HOT_CALLBACKS, Row, share_theory_pct};
use super::stats::Spread;
use super::theory;

/// The conditions of the latency and fixed-rate Redis benchmarks, in table order.
pub const CONDITIONS: &[&str] = &[
    "stock_idle",
    "stock_noise",
    "stock_knobs",
    "mus_empty",
    "mus_boost",
    "bpfland_noise",
    "layered_boost",
];
/// The latency benchmark's conditions: CONDITIONS, and what the host adds (the probe as
/// SCHED_FIFO 90 under stock with the noise: the kernel runs it above every fair and
/// sched_ext task, so no scheduler delays it, and its tail is the host's stalls).
pub fn latency_conditions() -> Vec<&'static str> {
    CONDITIONS.iter().copied().chain(["stock_fifo"]).collect()
}
/// The saturated-Redis and bystander benchmarks' conditions (all under noise).
pub const BOOST_CONDITIONS: &[&str] = &[
    "stock_noise",
    "stock_w400",
    "mus_boost",
    "bpfland_noise",
    "layered_boost",
];
/// The threads benchmark's conditions.
pub const THREADS_CONDITIONS: &[&str] = &[
    "stock_plain",
    "stock_w400",
    "mus_empty",
    "mus_boost",
    "bpfland_plain",
    "layered_boost",
];
/// The weights and limit benchmarks' conditions (no boost anywhere).
pub const PLAIN_CONDITIONS: &[&str] =
    &["stock_plain", "mus_empty", "bpfland_plain", "layered_plain"];
/// The overhead benchmark's conditions (no noise).
pub const OVERHEAD_CONDITIONS: &[&str] = &[
    "stock_idle",
    "mus_empty_idle",
    "bpfland_idle",
    "layered_idle",
];
/// The cost benchmark's schedulers (sched_ext only: the stock class runs no BPF).
pub const COST_CONDITIONS: &[&str] = &["mus_idle", "bpfland_idle", "layered_idle"];

pub fn label(condition: &str) -> &str {
    match condition {
        "stock_idle" => "stock, idle",
        "stock_noise" => "stock, noise",
        "stock_plain" => "stock",
        "stock_knobs" => "stock, noise, cpu.weight=10000 + cpu.idle=1",
        "stock_w400" => "stock, target cpu.weight 400:100 (the kernel's 4x)",
        "stock_fifo" => "stock, noise, the probe SCHED_FIFO 90 (what the host adds)",
        "mus_empty" => "mus, empty map",
        "mus_boost" => "mus, target boosted (4096)",
        "mus_empty_idle" | "mus_idle" => "mus, empty map",
        "bpfland_noise" | "bpfland_plain" | "bpfland_idle" => "scx_bpfland",
        "layered_boost" => "scx_layered, target in the 4x layer",
        "layered_plain" | "layered_idle" => "scx_layered",
        other => other,
    }
}

/// Short labels for plot axes.
pub fn short_label(condition: &str) -> &str {
    match condition {
        "stock_idle" => "stock idle",
        "stock_noise" => "stock",
        "stock_plain" => "stock",
        "stock_knobs" => "stock knobs",
        "stock_w400" => "stock w400",
        "stock_fifo" => "FIFO (host)",
        "mus_empty" => "mus empty",
        "mus_boost" => "mus boost",
        "mus_empty_idle" | "mus_idle" => "mus",
        "bpfland_noise" | "bpfland_plain" | "bpfland_idle" => "bpfland",
        "layered_boost" => "layered 4x",
        "layered_plain" | "layered_idle" => "layered",
        other => other,
    }
}

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

/// One row of the peers table: a metric, and the condition that stands for each
/// scheduler (stock, mus, bpfland, layered) in it.
struct PeerRow {
    what: &'static str,
    bench: &'static str,
    metric: &'static str,
    decimals: usize,
    conds: [Option<&'static str>; 4],
    theory: Option<fn() -> f64>,
}

/// The conditions standing for each scheduler in a row about a boost under noise, with
/// stock boosted by `cpu.weight` 400:100 (the kernel's own 4x).
const BOOST_UNDER_W400: [Option<&str>; 4] = [
    Some("stock_w400"),
    Some("mus_boost"),
    Some("bpfland_noise"),
    Some("layered_boost"),
];

/// The same, with stock at its strongest knobs (target `cpu.weight` 10000, noise
/// `cpu.idle`), as the latency and fixed-rate Redis benchmarks run it.
const BOOST_UNDER_KNOBS: [Option<&str>; 4] = [
    Some("stock_knobs"),
    Some("mus_boost"),
    Some("bpfland_noise"),
    Some("layered_boost"),
];

/// Each scheduler with nothing boosted and no noise: the cgroup-knob rows.
const EMPTY_MAP: [Option<&str>; 4] = [
    Some("stock_plain"),
    Some("mus_empty"),
    Some("bpfland_plain"),
    Some("layered_plain"),
];

const PEER_ROWS: &[PeerRow] = &[
    PeerRow {
        what: "probe p99 under noise, target boosted (µs)",
        bench: "latency",
        metric: "p99_us",
        decimals: 0,
        conds: BOOST_UNDER_KNOBS,
        theory: None,
    },
    PeerRow {
        what: "probe p50 under noise, target boosted (µs)",
        bench: "latency",
        metric: "p50_us",
        decimals: 0,
        conds: BOOST_UNDER_KNOBS,
        theory: None,
    },
    PeerRow {
        what: "Redis 100/s p99 under noise, boosted (ms)",
        bench: "redis",
        metric: "p99_ms",
        decimals: 3,
        conds: BOOST_UNDER_KNOBS,
        theory: None,
    },
    PeerRow {
        what: "Redis saturated p99, boosted (ms)",
        bench: "redis_sat",
        metric: "p99_ms",
        decimals: 3,
        conds: BOOST_UNDER_W400,
        theory: None,
    },
    PeerRow {
        what: "Redis saturated throughput, boosted (requests/s)",
        bench: "redis_sat",
        metric: "rps",
        decimals: 0,
        conds: BOOST_UNDER_W400,
        theory: None,
    },
    PeerRow {
        what: "Redis saturated: the noise's CPU meanwhile (% of one CPU)",
        bench: "redis_sat",
        metric: "noise_cpu_pct",
        decimals: 0,
        conds: BOOST_UNDER_W400,
        theory: None,
    },
    PeerRow {
        what: "bystander probe p99 (µs)",
        bench: "bystander",
        metric: "p99_us",
        decimals: 0,
        conds: BOOST_UNDER_W400,
        theory: None,
    },
    PeerRow {
        what: "bystander probe p50 (µs)",
        bench: "bystander",
        metric: "p50_us",
        decimals: 0,
        conds: BOOST_UNDER_W400,
        theory: None,
    },
    PeerRow {
        what: "threads: boosted 1-thread cgroup's share vs 8 threads (%)",
        bench: "threads",
        metric: "target_share_pct",
        decimals: 1,
        conds: [
            Some("stock_w400"),
            Some("mus_boost"),
            Some("bpfland_plain"),
            Some("layered_boost"),
        ],
        theory: Some(|| theory::threads_target_pct(4.0)),
    },
    PeerRow {
        what: "weights flat: the 300 cgroup's share against 100 (%)",
        bench: "weights_flat",
        metric: "wa_share_pct",
        decimals: 1,
        conds: EMPTY_MAP,
        theory: Some(theory::weights_flat_pct),
    },
    PeerRow {
        what: "weights nested: the 200 parent's share against 100 (%)",
        bench: "weights_nested",
        metric: "nA_share_pct",
        decimals: 1,
        conds: EMPTY_MAP,
        theory: Some(|| theory::weights_nested_pct()[0].1),
    },
    PeerRow {
        what: "limit: cpu.max half a CPU, CPU used (% of one CPU)",
        bench: "limit",
        metric: "lim_cpu_pct",
        decimals: 1,
        conds: EMPTY_MAP,
        theory: Some(|| theory::LIMIT_CPU_PCT),
    },
    PeerRow {
        what: "hackbench, no noise (s)",
        bench: "overhead",
        metric: "seconds",
        decimals: 3,
        conds: [
            Some("stock_idle"),
            Some("mus_empty_idle"),
            Some("bpfland_idle"),
            Some("layered_idle"),
        ],
        theory: None,
    },
    PeerRow {
        what: "BPF time per context switch, hot callbacks (ns, TCG)",
        bench: "cost",
        metric: "hot_ns_per_ctxt",
        decimals: 0,
        conds: [
            None,
            Some("mus_idle"),
            Some("bpfland_idle"),
            Some("layered_idle"),
        ],
        theory: None,
    },
];

/// A table of `conds` (rows, those measured) against `cols` (header, metric, decimals).
fn cond_table(
    md: &mut String,
    agg: &Aggregate,
    bench: &str,
    conds: &[&str],
    cols: &[(&str, &str, usize)],
) {
    let _ = writeln!(
        md,
        "| condition | {} |\n| --- |{}",
        cols.iter().map(|c| c.0).collect::<Vec<_>>().join(" | "),
        " --- |".repeat(cols.len())
    );
    for c in conds {
        if cols.iter().all(|(_, m, _)| agg.get(bench, c, m).is_none()) {
            continue;
        }
        let cells: Vec<String> = cols
            .iter()
            .map(|(_, m, d)| fmt_spread(agg.get(bench, c, m), *d))
            .collect();
        let _ = writeln!(md, "| {} | {} |", label(c), cells.join(" | "));
    }
    md.push('\n');
}

/// `heading` and then `bench`'s [`cond_table`], if this run measured `bench` at all.
fn bench_section(
    md: &mut String,
    agg: &Aggregate,
    bench: &str,
    heading: &str,
    conds: &[&str],
    cols: &[(&str, &str, usize)],
) {
    if agg.has_bench(bench) {
        let _ = writeln!(md, "{heading}");
        cond_table(md, agg, bench, conds, cols);
    }
}

fn peers_table(md: &mut String, agg: &Aggregate) {
    let rows: Vec<&PeerRow> = PEER_ROWS
        .iter()
        .filter(|r| {
            r.conds
                .iter()
                .flatten()
                .any(|c| agg.get(r.bench, c, r.metric).is_some())
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Peers: mus against scx_bpfland, scx_layered and the stock scheduler\n\n\
         Each cell: the condition of that scheduler closest to the row's question (the stock \
         column uses the kernel's own knob where the row is about a boost: cpu.weight 400:100, \
         or cpu.weight 10000 with the noise at cpu.idle=1 in the latency and fixed-rate Redis \
         rows; scx_bpfland has no boost; scx_layered boosts through its 4x layer). The tables \
         below have every condition.\n\n\
         | metric | stock | mus | scx_bpfland | scx_layered | theory |\n| --- | --- | --- | --- | --- | --- |"
    );
    for r in rows {
        let cells: Vec<String> = r
            .conds
            .iter()
            .map(|c| {
                c.map_or("n/a".into(), |c| {
                    fmt_spread(agg.get(r.bench, c, r.metric), r.decimals)
                })
            })
            .collect();
        let theory = r.theory.map_or("".into(), |t| format!("{:.1}", t()));
        let _ = writeln!(md, "| {} | {} | {theory} |", r.what, cells.join(" | "));
    }
    md.push('\n');
}

fn cost_table(md: &mut String, agg: &Aggregate) {
    let _ = writeln!(
        md,
        "## Per-decision cost (kernel.bpf_stats_enabled=1, during hackbench), ns\n\n\
         run_time_ns / run_cnt of each scheduler's struct_ops programs, by callback (program \
         name suffix), and the BPF time summed per context switch (/proc/stat ctxt). Under TCG \
         the absolute nanoseconds are inflated: read the ratios.\n"
    );
    let mut cols: Vec<(String, String)> = HOT_CALLBACKS
        .iter()
        .map(|cb| (format!("{cb} ns/call"), format!("{cb}_ns")))
        .collect();
    cols.push(("hot callbacks ns/ctxt".into(), "hot_ns_per_ctxt".into()));
    cols.push(("all struct_ops ns/ctxt".into(), "all_ns_per_ctxt".into()));
    let _ = writeln!(
        md,
        "| scheduler | {} |\n| --- |{}",
        cols.iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        " --- |".repeat(cols.len())
    );
    for c in COST_CONDITIONS {
        let cells: Vec<String> = cols
            .iter()
            .map(|(_, m)| fmt_spread(agg.get("cost", c, m), 0))
            .collect();
        let _ = writeln!(md, "| {} | {} |", label(c), cells.join(" | "));
    }
    for peer in ["bpfland_idle", "layered_idle"] {
        let cells: Vec<String> = cols
            .iter()
            .map(|(_, m)| {
                match (
                    agg.median("cost", "mus_idle", m),
                    agg.median("cost", peer, m),
                ) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                    _ => "–".into(),
                }
            })
            .collect();
        let _ = writeln!(
            md,
            "| mus / {} (medians) | {} |",
            label(peer),
            cells.join(" | ")
        );
    }
    md.push('\n');
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
            "## Targets of the issues\n\nJudged in every repeat: a target is met only if it held in each repeat that measured it (the worst repeat decides); the figure gives the medians and the repeats that failed.\n\n| issue | target | figure | result |\n| --- | --- | --- | --- |"
        );
        for c in checks {
            let result = match c.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                c.issue, c.target, c.figure, result
            );
        }
        md.push('\n');
    }
    peers_table(&mut md, agg);
    let lat_cols = [
        ("p50", "p50_us", 0),
        ("p99", "p99_us", 0),
        ("p99.9", "p999_us", 0),
        ("max", "max_us", 0),
        ("wake-ups ≥ 1 ms, %", "over1ms_pct", 1),
    ];
    bench_section(
        &mut md,
        agg,
        "latency",
        "## Wake-up latency (cyclictest, SCHED_OTHER but for stock_fifo, target cgroup; noise in every condition but idle), µs\n",
        &latency_conditions(),
        &lat_cols,
    );
    bench_section(
        &mut md,
        agg,
        "bystander",
        "## Bystander latency (cyclictest in an unboosted cgroup next to the noise and a busy target, one busy loop per CPU), µs\n",
        BOOST_CONDITIONS,
        &lat_cols,
    );
    bench_section(
        &mut md,
        agg,
        "redis",
        "## Redis GET at a fixed request rate (redis-rate, open loop; server and client in the target cgroup), ms and achieved requests/s\n\nLatency runs from each request's scheduled send time, so a reply that falls behind delays the requests queued after it, and they count. \"stock, idle\" is Redis alone.\n",
        CONDITIONS,
        &[
            ("p50", "p50_ms", 3),
            ("p99", "p99_ms", 3),
            ("p99.9", "p999_ms", 3),
            ("max", "max_ms", 3),
            ("achieved rate", "rps", 0),
        ],
    );
    bench_section(
        &mut md,
        agg,
        "redis_sat",
        "## Redis saturated (redis-benchmark -c 4 -t get, closed loop, in the target cgroup, under noise), ms and requests/s\n\n\
         The CPU the target and the noise got meanwhile, in % of one CPU, shows what a tail was bought with: a 4x boost \
         (400 against the noise's 100) leaves the noise at least a fifth of the machine, 40% of one CPU on 2, whatever \
         the target would take.\n",
        BOOST_CONDITIONS,
        &[
            ("requests/s", "rps", 0),
            ("avg", "avg_ms", 3),
            ("p50", "p50_ms", 3),
            ("p99", "p99_ms", 3),
            ("max", "max_ms", 3),
            ("target CPU, % of one", "target_cpu_pct", 0),
            ("noise CPU, % of one", "noise_cpu_pct", 0),
        ],
    );
    bench_section(
        &mut md,
        agg,
        "threads",
        &format!(
            "## Threads: target (1 busy thread) against a neighbour with 8, share of their CPU time, %\n\n\
             Theory for per-cgroup weights (the kernel's fair class): {:.1}% boosted 4x or not (one thread \
             fills one of the 2 CPUs at most); a per-task weight of 4096 would give 4096 / (4096 + 8 x 1024) = 33.3%.\n",
            theory::threads_target_pct(4.0)
        ),
        THREADS_CONDITIONS,
        &[
            ("target share", "target_share_pct", 1),
            ("target CPU (% of one CPU)", "target_cpu_pct", 1),
        ],
    );
    if agg.has_bench("weights_flat") || agg.has_bench("weights_nested") {
        let nested = theory::weights_nested_pct();
        let _ = writeln!(
            md,
            "## Weights (empty map): share of the CPU time, %\n\n\
             Flat: wa at cpu.weight 300 against wb at 100, 2 busy threads each (theory {:.1} / {:.1}). \
             Nested: nA (200) with x (1 thread) and y (2 threads) against nB (100) with z (2 threads); \
             theory {}.\n",
            theory::weights_flat_pct(),
            100.0 - theory::weights_flat_pct(),
            nested
                .iter()
                .map(|(n, t)| format!("{n} {t:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        cond_table(
            &mut md,
            agg,
            "weights_flat",
            PLAIN_CONDITIONS,
            &[
                ("flat wa (300)", "wa_share_pct", 1),
                ("flat wb (100)", "wb_share_pct", 1),
            ],
        );
        let cols: Vec<(String, String)> = nested
            .iter()
            .map(|(n, _)| (format!("nested {n}"), format!("{n}_share_pct")))
            .collect();
        let cols: Vec<(&str, &str, usize)> = cols
            .iter()
            .map(|(h, m)| (h.as_str(), m.as_str(), 1))
            .collect();
        cond_table(&mut md, agg, "weights_nested", PLAIN_CONDITIONS, &cols);
    }
    bench_section(
        &mut md,
        agg,
        "limit",
        "## Limit: cpu.max \"50000 100000\" (half a CPU) on a cgroup with 2 busy threads, CPU used in % of one CPU\n",
        PLAIN_CONDITIONS,
        &[("CPU used", "lim_cpu_pct", 1)],
    );
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
    bench_section(
        &mut md,
        agg,
        "overhead",
        "## Overhead (hackbench, no noise), seconds per run\n",
        OVERHEAD_CONDITIONS,
        &[("time", "seconds", 3)],
    );
    if agg.has_bench("cost") {
        cost_table(&mut md, agg);
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::checks::checks;
    use crate::bench::results::row;

    fn sample() -> Vec<Row> {
        let mut rows = Vec::new();
        for (rep, k) in [(1, 1.0), (2, 1.2), (3, 0.9)] {
            rows.push(row("latency", "stock_idle", rep, "p99_us", 200.0 * k));
            rows.push(row("latency", "stock_idle", rep, "p999_us", 1000.0 * k));
            rows.push(row("latency", "mus_boost", rep, "p99_us", 250.0 * k));
            rows.push(row("latency", "layered_boost", rep, "p99_us", 240.0 * k));
            rows.push(row("latency", "stock_knobs", rep, "p99_us", 400.0 * k));
            rows.push(row("share", "w4096", rep, "share_pct", 78.0 * k.min(1.0)));
            rows.push(row("share", "w2048", rep, "share_pct", 66.0));
            rows.push(row("threads", "stock_w400", rep, "target_share_pct", 49.0));
            rows.push(row(
                "threads",
                "mus_boost",
                rep,
                "target_share_pct",
                33.0 * k,
            ));
            rows.push(row(
                "weights_nested",
                "mus_empty",
                rep,
                "nA/x_share_pct",
                30.0,
            ));
            rows.push(row("limit", "bpfland_plain", rep, "lim_cpu_pct", 200.0));
            for (c, v) in [
                ("mus_idle", 300.0),
                ("bpfland_idle", 200.0),
                ("layered_idle", 600.0),
            ] {
                rows.push(row("cost", c, rep, "hot_ns_per_ctxt", v));
                rows.push(row("cost", c, rep, "enqueue_ns", v / 4.0));
            }
        }
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
            [(1, 250.0), (2, 300.0), (3, 225.0)]
        );
        assert!(agg.per_repeat("latency", "nothing", "p99_us").is_empty());
    }

    #[test]
    fn markdown_has_the_tables_the_peers_and_the_verdicts() {
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
        // conditions that were not measured get no row
        assert!(!md.contains("| scx_bpfland | – | – | – | – |"), "{md}");
        assert!(md.contains("| 4 | latency: boosted probe under noise p99.9"));
        assert!(md.contains("**missed**"));
        assert!(md.contains("| 4096 | 78.0 (70.2–78.0) | 80.0 |"), "{md}");
        // the peers table: stock / mus / bpfland / layered, theory last
        assert!(
            md.contains("| probe p99 under noise, target boosted (µs) | 400 (360–480) | 250 (225–300) | – | 240 (216–288) |  |"),
            "{md}"
        );
        assert!(
            md.contains("| threads: boosted 1-thread cgroup's share vs 8 threads (%) | 49.0 (49.0–49.0) | 33.0 (29.7–39.6) | – | – | 50.0 |"),
            "{md}"
        );
        assert!(md.contains("| limit: cpu.max half a CPU, CPU used (% of one CPU) | – | – | 200.0 (200.0–200.0) | – | 50.0 |"), "{md}");
        assert!(md.contains("| BPF time per context switch, hot callbacks (ns, TCG) | n/a | 300 (300–300) | 200 (200–200) | 600 (600–600) |  |"), "{md}");
        // the cost table and its ratios
        assert!(
            md.contains("| mus / scx_bpfland (medians) | 1.50 |"),
            "{md}"
        );
        assert!(
            md.contains("| mus / scx_layered (medians) | 0.50 |"),
            "{md}"
        );
        assert!(
            md.contains("| mus, empty map | – | – | 30.0 (30.0–30.0) | – | – |"),
            "{md}"
        );
        assert!(md.contains("## Threads"));
        assert!(md.contains("| threads: boosted 1-thread cgroup's share >= stock's with cpu.weight 400:100 | 33.0 vs 49.0%"), "{md}");
    }
}
