//! The summary's peers table: mus against scx_bpfland, scx_layered and the stock
//! scheduler, one row per question, each scheduler in the condition that answers it.

use std::fmt::Write as _;

use super::aggregate::{Aggregate, fmt_spread};
use super::theory;

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

/// The peers table of the summary: one row per question, one column per scheduler,
/// and the theory where there is one; rows that this run did not measure are left out.
pub fn peers_table(md: &mut String, agg: &Aggregate) {
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
