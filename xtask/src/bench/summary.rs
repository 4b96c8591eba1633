//! The Markdown summary (evaluation/summary.md): the run's facts, the targets (see
//! checks.rs), the peers table (peer_table.rs), and one table per benchmark.

use std::fmt::Write as _;

use super::aggregate::{Aggregate, fmt_spread};
use super::bpf_stats::HOT_CALLBACKS;
use super::conditions::{
    BOOST_CONDITIONS, BYSTANDER_HOST_CONDITIONS, CONDITIONS, COST_CONDITIONS,
    LATENCY_HOST_CONDITIONS, OVERHEAD_CONDITIONS, PLAIN_CONDITIONS, RR_CONDITIONS, RR_MODES,
    RR_STOCK, THREADS_CONDITIONS, bystander_conditions, label, latency_conditions,
};
use super::dataset::Meta;
use super::judge::{Check, MIN_ROUNDS};
use super::peer_table::peers_table;
use super::theory::{self, share_theory_pct};

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

/// A latency benchmark's section: its table on a quiet host, then with the host's CPU
/// contended, each with the SCHED_FIFO floor as its last row.
fn latency_section(
    md: &mut String,
    agg: &Aggregate,
    bench: &str,
    heading: &str,
    quiet: &[&str],
    host: &[&str],
    cols: &[(&str, &str, usize)],
) {
    if !agg.has_bench(bench) {
        return;
    }
    let _ = writeln!(
        md,
        "{heading}\nThe floor row is the same probe as SCHED_FIFO 90 (chrt -f 90) under the stock scheduler with the same noise: the kernel runs it above every fair and sched_ext task, so it is the best a priority can do and its tail is the host's own stalls. Not a target: read the other rows against it.\n"
    );
    cond_table(md, agg, bench, quiet, cols);
    if host.iter().any(|c| agg.has_condition(bench, c)) {
        let _ = writeln!(
            md,
            "With the host's CPU contended (one busy thread on the host during each of these conditions, interleaved with the quiet ones in the same rounds):\n"
        );
        cond_table(md, agg, bench, host, cols);
    }
}

/// The columns of redis-benchmark's figures (results.rs), redis_sat's and rr's first.
const REDIS_BENCHMARK_COLS: [(&str, &str, usize); 5] = [
    ("requests/s", "rps", 0),
    ("avg", "avg_ms", 3),
    ("p50", "p50_ms", 3),
    ("p99", "p99_ms", 3),
    ("max", "max_ms", 3),
];

/// The request/response benchmark: a table per mode (confined to one CPU, unconfined).
fn rr_section(md: &mut String, agg: &Aggregate) {
    if !RR_MODES.iter().any(|(b, _, _)| agg.has_bench(b)) {
        return;
    }
    let _ = writeln!(
        md,
        "## Request/response, no noise (redis-benchmark -c 4 -t get, closed loop, server and client in the target cgroup), requests/s, ms, and per request\n\n\
         Nothing else runs: what a boost costs where nothing contends. \"Confined\": the target's `cpuset.cpus` is one CPU (as kubelet's static CPU manager \
         confines a Guaranteed pod). Per request: the target's CPU time (server and client) and the context switches of all CPUs. The BPF time per request \
         comes from the same runs repeated with kernel.bpf_stats_enabled=1 after the others (so that no other figure pays the statistics); under TCG it is inflated.\n"
    );
    for (bench, mode, _) in RR_MODES {
        bench_section(
            md,
            agg,
            bench,
            &format!("Target {mode}:\n"),
            RR_CONDITIONS,
            &[
                &REDIS_BENCHMARK_COLS[..],
                &[
                    ("CPU µs/request", "cpu_us_per_req", 0),
                    ("switches/request", "ctxt_per_req", 2),
                    ("BPF µs/request", "bpf_us_per_req", 1),
                ],
            ]
            .concat(),
        );
        bpf_explains(md, agg, bench);
    }
}

/// What the BPF time explains of mus's CPU time per request beyond stock's (issue 20's
/// item 5 asks it stated): a sentence after `bench`'s table, when mus used more.
fn bpf_explains(md: &mut String, agg: &Aggregate, bench: &str) {
    let cpu = |cond| agg.median(bench, cond, "cpu_us_per_req");
    let (Some(mus), Some(stock), Some(bpf)) = (
        cpu("mus_boost"),
        cpu(RR_STOCK),
        agg.median(bench, "mus_boost", "bpf_us_per_req"),
    ) else {
        return;
    };
    let extra = mus - stock;
    if extra <= 0.0 {
        return;
    }
    let _ = writeln!(
        md,
        "mus used {extra:.0} µs more CPU per request than stock ({mus:.0} against {stock:.0}, medians); its BPF time per request, {bpf:.1} µs as TCG inflates it, is {:.0} % of that.\n",
        100.0 * bpf / extra
    );
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
                agg.median_ratio("cost", "mus_idle", peer, m)
                    .map_or("–".into(), |r| format!("{r:.2}"))
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

/// The targets as a table (area, target, rule, figure, result), and a blank line.
pub fn targets_table(md: &mut String, checks: &[Check]) {
    let _ = writeln!(
        md,
        "| area | target | rule | figure | result |\n| --- | --- | --- | --- | --- |"
    );
    for c in checks {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            c.area,
            c.target,
            c.rule,
            c.figure,
            c.verdict.markdown()
        );
    }
    md.push('\n');
}

pub fn markdown(meta: &Meta, agg: &Aggregate, checks: &[Check]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# SCX_MUS benchmark summary\n");
    let _ = writeln!(
        md,
        "{}\n",
        meta.generated_by("repeat(s) per condition, interleaved")
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
            "## Targets\n\n\
             Two rules (xtask/src/bench/checks.rs). **Paired rounds**, every latency and time target: each repeat is a round in which mus's condition and its reference ran interleaved; per round the ratio mus / reference in that round; a round is a win for mus when its ratio meets the bound; the target holds when at least {MIN_ROUNDS} rounds paired, the median ratio meets the bound and mus wins more than half of the rounds. \
             **Every repeat**, the CPU-share targets: the target holds only if it held in each repeat (the worst repeat decides). \
             Area: boost (a boosted cgroup gets its CPU, promptly, at no cost to an empty map) or fairness (to everything the boost does not touch, and against the peers).\n"
        );
        targets_table(&mut md, checks);
    }
    peers_table(&mut md, agg);
    let lat_cols = [
        ("p50", "p50_us", 0),
        ("p99", "p99_us", 0),
        ("p99.9", "p999_us", 0),
        ("max", "max_us", 0),
        ("wake-ups ≥ 1 ms, %", "over1ms_pct", 1),
    ];
    latency_section(
        &mut md,
        agg,
        "latency",
        "## Wake-up latency (cyclictest, SCHED_OTHER but for the floor, target cgroup; noise in every condition but idle), µs\n",
        &latency_conditions(),
        LATENCY_HOST_CONDITIONS,
        &lat_cols,
    );
    latency_section(
        &mut md,
        agg,
        "bystander",
        "## Bystander latency (cyclictest in an unboosted cgroup next to the noise and a busy target, one busy loop per CPU), µs\n",
        &bystander_conditions(),
        BYSTANDER_HOST_CONDITIONS,
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
            &REDIS_BENCHMARK_COLS[..],
            &[
                ("target CPU, % of one", "target_cpu_pct", 0),
                ("noise CPU, % of one", "noise_cpu_pct", 0),
            ],
        ]
        .concat(),
    );
    rr_section(&mut md, agg);
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
    use crate::bench::results::{Row, row};

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
            for (c, v) in [
                ("mus_boost", 3000.0),
                ("stock_fifo", 2000.0),
                ("mus_boost_host", 9000.0),
                ("stock_fifo_host", 7000.0),
            ] {
                rows.push(row("bystander", c, rep, "p99_us", v));
            }
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
            rows.push(row("rr_one", "stock_idle", rep, "rps", 4500.0 * k));
            rows.push(row("rr_one", "mus_boost", rep, "rps", 2300.0 * k));
            rows.push(row("rr_one", "mus_boost", rep, "bpf_us_per_req", 26.6));
            rows.push(row("rr_one", "stock_idle", rep, "cpu_us_per_req", 220.0));
            rows.push(row("rr_one", "mus_boost", rep, "cpu_us_per_req", 260.0));
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
        assert!(md.contains("| boost | latency: boosted probe under noise p99.9"));
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
        assert!(md.contains("| threads: boosted 1-thread cgroup's share >= stock's with cpu.weight 400:100 | every repeat | 33.0 vs 49.0%"), "{md}");
        // three rounds: the paired targets show their figures, unjudged
        assert!(md.contains("| boost | latency: boosted probe under noise p99 <= 1.5x stock idle p99 | paired rounds | median 1.25x (<= 1.50x to hold), mus wins 3/3; medians 250 vs 200 µs (only 3 round(s), 5 needed) | too few rounds |"), "{md}");
        // the bystander's tables: quiet host with the floor last, then host contended
        let by = &md[md.find("## Bystander").unwrap()..];
        assert!(
            by.contains("| mus, target boosted (4096) | – | 3000 (3000–3000) |"),
            "{by}"
        );
        assert!(
            by.contains("| floor: stock, noise, the probe SCHED_FIFO 90 (chrt -f 90) | – | 2000 (2000–2000) |"),
            "{by}"
        );
        let host = &by[by.find("With the host's CPU contended").unwrap()..];
        assert!(
            host.contains("| mus, target boosted (4096), host contended | – | 9000 (9000–9000) |"),
            "{host}"
        );
        assert!(
            host.contains("| floor: stock, noise, the probe SCHED_FIFO 90 (chrt -f 90), host contended | – | 7000 (7000–7000) |"),
            "{host}"
        );
        // request/response: confined only, stock first, no unconfined table
        let rr = &md[md.find("## Request/response, no noise").unwrap()..];
        assert!(
            rr.contains("Target confined to one CPU:\n\n| condition | requests/s |"),
            "{rr}"
        );
        assert!(
            rr.contains("| stock, idle | 4500 (4050–5400) | – | – | – | – | 220 (220–220) | – | – |\n| mus, target boosted (4096) | 2300 (2070–2760) | – | – | – | – | 260 (260–260) | – | 26.6 (26.6–26.6) |"),
            "{rr}"
        );
        assert!(!rr.contains("Target unconfined"), "{rr}");
        assert!(
            rr.contains("mus used 40 µs more CPU per request than stock (260 against 220, medians); its BPF time per request, 26.6 µs as TCG inflates it, is 66 % of that."),
            "{rr}"
        );
        assert!(md.contains("| boost | rr, confined to one CPU, no noise: requests/s with mus boosted >= 0.95x stock's | paired rounds | median 0.51x"), "{md}");
        // the latency benchmark ran no host-contended conditions: no such table
        let lat = &md[md.find("## Wake-up latency").unwrap()..md.find("## Bystander").unwrap()];
        assert!(!lat.contains("host contended"), "{lat}");
    }
}
