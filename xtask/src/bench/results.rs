//! From the guest's `@@MUS` lines (see xtask/scenarios/bench.sh) to one row per
//! benchmark, condition, repeat and metric: the CSV's rows (dataset.rs writes them).

use std::collections::BTreeMap;

use anyhow::{Context, bail};

use super::bpf_stats::{self, CostRun};
use super::histogram::{Histogram, parse_padded};
use super::theory::share_theory_pct;

/// The candidate build's scheduler name in bench.sh (a condition's prefix, before `_`):
/// its rows are parsed here and paired with mus's in candidate.rs.
pub const CANDIDATE: &str = "cand";

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub bench: String,
    pub condition: String,
    pub repeat: u32,
    pub metric: String,
    pub value: f64,
}

impl Row {
    pub fn new(bench: &str, condition: &str, repeat: u32, metric: &str, value: f64) -> Row {
        Row {
            bench: bench.into(),
            condition: condition.into(),
            repeat,
            metric: metric.into(),
            value,
        }
    }
}

/// [`Row::new`] under a short name, for the fixtures of the other modules' tests.
#[cfg(test)]
pub fn row(bench: &str, condition: &str, repeat: u32, metric: &str, value: f64) -> Row {
    Row::new(bench, condition, repeat, metric, value)
}

/// Splits "cond rep rest..." into its parts.
fn cond_rep(value: &str) -> anyhow::Result<(&str, u32, &str)> {
    let mut it = value.splitn(3, char::is_whitespace);
    let cond = it
        .next()
        .filter(|s| !s.is_empty())
        .context("no condition")?;
    let rep = it.next().context("no repeat number")?.parse()?;
    Ok((cond, rep, it.next().unwrap_or("").trim()))
}

/// Parses "name=v name=v ..." words; `what` names the line for errors.
fn pairs<'a>(text: &'a str, what: &dyn Fn() -> String) -> anyhow::Result<Vec<(&'a str, &'a str)>> {
    text.split_whitespace()
        .map(|pair| {
            pair.split_once('=')
                .with_context(|| format!("{}: pair without '='", what()))
        })
        .collect()
}

/// Rows of a `cgshare` line: "<bench> <cond> <rep> elapsed_cs=N name=usec ...". Each
/// cgroup's share of the CPU time of the top-level cgroups listed (names without '/'),
/// and its CPU time in % of one CPU.
fn cgshare_rows(value: &str, what: &dyn Fn() -> String, out: &mut Vec<Row>) -> anyhow::Result<()> {
    let (bench, rest) = value.split_once(' ').context("no benchmark")?;
    let (c, r, rest) = cond_rep(rest)?;
    let mut elapsed_us = None;
    let mut usage = Vec::new();
    for (name, v) in pairs(rest, what)? {
        let v: f64 = v.parse().with_context(what)?;
        if name == "elapsed_cs" {
            elapsed_us = Some(v * 10_000.0);
        } else {
            usage.push((name, v));
        }
    }
    let top: f64 = usage
        .iter()
        .filter(|(n, _)| !n.contains('/'))
        .map(|u| u.1)
        .sum();
    for (name, v) in usage {
        if top > 0.0 {
            out.push(Row::new(
                bench,
                c,
                r,
                &format!("{name}_share_pct"),
                100.0 * v / top,
            ));
        }
        if let Some(e) = elapsed_us.filter(|e| *e > 0.0) {
            out.push(Row::new(
                bench,
                c,
                r,
                &format!("{name}_cpu_pct"),
                100.0 * v / e,
            ));
        }
    }
    Ok(())
}

/// Rows of redis-benchmark's CSV line, "GET,rps,avg,min,p50,p95,p99,max" (ms).
fn redis_benchmark_rows(
    bench: &str,
    c: &str,
    r: u32,
    line: &str,
    what: &dyn Fn() -> String,
    out: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let f: Vec<f64> = line
        .split(',')
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(what)?;
    let [rps, avg, _min, p50, _p95, p99, max] = f[..] else {
        bail!("{}: expected redis-benchmark's 8 CSV fields", what())
    };
    for (metric, v) in [
        ("rps", rps),
        ("avg_ms", avg),
        ("p50_ms", p50),
        ("p99_ms", p99),
        ("max_ms", max),
    ] {
        out.push(Row::new(bench, c, r, metric, v));
    }
    Ok(())
}

/// The rr benchmark's rows' benchmark for the guest's mode: "one" (confined to one CPU)
/// is `rr_one`, "all" (unconfined) `rr_all`; then the line's condition, repeat and rest.
fn rr_line(value: &str) -> anyhow::Result<(&'static str, &str, u32, &str)> {
    let (mode, rest) = value.split_once(' ').context("no mode")?;
    let bench = match mode {
        "one" => "rr_one",
        "all" => "rr_all",
        _ => bail!("mode {mode:?}, not one or all"),
    };
    let (c, r, rest) = cond_rep(rest)?;
    Ok((bench, c, r, rest))
}

/// Rows of an `rr` line: "<mode> <cond> <rep> requests=N ctxt=N target_us=N <CSV>":
/// redis-benchmark's figures, and per request the context switches and the target's
/// CPU time (server and client).
fn rr_rows(value: &str, what: &dyn Fn() -> String, out: &mut Vec<Row>) -> anyhow::Result<()> {
    let (bench, c, r, rest) = rr_line(value)?;
    let (counts, csv) = rest.rsplit_once(' ').context("no CSV line")?;
    redis_benchmark_rows(bench, c, r, csv, what, out)?;
    let mut get = BTreeMap::new();
    for (name, v) in pairs(counts, what)? {
        get.insert(name, v.parse::<f64>().with_context(what)?);
    }
    let requests = get.get("requests").copied().filter(|n| *n > 0.0);
    for (name, metric) in [("ctxt", "ctxt_per_req"), ("target_us", "cpu_us_per_req")] {
        if let (Some(n), Some(v)) = (requests, get.get(name)) {
            out.push(Row::new(bench, c, r, metric, v / n));
        }
    }
    Ok(())
}

/// The row of an `rr_bpf` line, "<mode> <cond> <rep> <requests> <prog_stats> | <prog_stats>":
/// the time every struct_ops program ran between the two, per request, in µs.
fn rr_bpf_row(value: &str, what: &dyn Fn() -> String) -> anyhow::Result<Row> {
    let (bench, c, r, rest) = rr_line(value)?;
    let (before, after) = rest.split_once('|').context("no '|'")?;
    let (requests, before) = before.trim().split_once(' ').unwrap_or((before.trim(), ""));
    let requests: f64 = requests.parse().with_context(what)?;
    anyhow::ensure!(requests > 0.0, "{}: no requests", what());
    let ns = bpf_stats::total_ns(&bpf_stats::parse(before)?, &bpf_stats::parse(after)?);
    Ok(Row::new(
        bench,
        c,
        r,
        "bpf_us_per_req",
        ns / 1000.0 / requests,
    ))
}

/// Parses every benchmark line of a run. Unknown keys are ignored.
pub fn parse(results: &[(String, String)]) -> anyhow::Result<Vec<Row>> {
    // (bench, condition, repeat) -> the probe's histogram
    let mut lat: BTreeMap<(String, String, u32), Histogram> = BTreeMap::new();
    let mut cost: BTreeMap<(String, u32), CostRun> = BTreeMap::new();
    let mut rows = Vec::new();
    for (key, value) in results {
        let ctx = || format!("@@MUS {key} {value}");
        match key.as_str() {
            "lat_hist" | "lat_done" => {
                let (bench, rest) = value.split_once(' ').with_context(ctx)?;
                let (c, r, rest) = cond_rep(rest).with_context(ctx)?;
                let hist = lat.entry((bench.into(), c.into(), r)).or_default();
                if key == "lat_hist" {
                    hist.add_pairs(rest).with_context(ctx)?;
                    continue;
                }
                let field = |name: &str| {
                    rest.split_whitespace()
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                        .filter(|v| !v.is_empty())
                        .map(parse_padded)
                        .transpose()
                };
                // Samples beyond the histogram's range count at the reported maximum.
                if let (Some(ovf), Some(max)) = (
                    field("overflows").with_context(ctx)?,
                    field("max").with_context(ctx)?,
                ) {
                    hist.add(max, ovf);
                }
            }
            "redis_rate" => {
                // redis-rate's report as name=value pairs; latencies in µs, kept in ms.
                let (c, r, rest) = cond_rep(value).with_context(ctx)?;
                for (name, v) in pairs(rest, &ctx)? {
                    let v: f64 = v.parse().with_context(ctx)?;
                    let (metric, v) = match name {
                        "p50_us" => ("p50_ms", v / 1000.0),
                        "p99_us" => ("p99_ms", v / 1000.0),
                        "p999_us" => ("p999_ms", v / 1000.0),
                        "max_us" => ("max_ms", v / 1000.0),
                        "achieved_rate" => ("rps", v),
                        "errors" => ("errors", v),
                        _ => continue,
                    };
                    rows.push(Row::new("redis", c, r, metric, v));
                }
            }
            "redis_sat" => {
                let (c, r, line) = cond_rep(value).with_context(ctx)?;
                redis_benchmark_rows("redis_sat", c, r, line, &ctx, &mut rows)?;
            }
            "rr" => rr_rows(value, &ctx, &mut rows).with_context(ctx)?,
            "rr_bpf" => rows.push(rr_bpf_row(value, &ctx).with_context(ctx)?),
            "cgshare" => cgshare_rows(value, &ctx, &mut rows).with_context(ctx)?,
            "share" | "share_cand" => {
                // "<weight> <repeat> <target usec> <noise usec>"; share_cand is the
                // candidate build's (candidate.rs), under conditions "cand_w<weight>"
                let f: Vec<f64> = value
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .with_context(ctx)?;
                let [w, r, a, b] = f[..] else {
                    bail!("{}: expected 4 numbers", ctx())
                };
                if a + b > 0.0 {
                    let cond = match key.as_str() {
                        "share" => format!("w{w}"),
                        _ => format!("{}_w{w}", CANDIDATE),
                    };
                    rows.push(Row::new(
                        "share",
                        &cond,
                        r as u32,
                        "share_pct",
                        100.0 * a / (a + b),
                    ));
                    rows.push(Row::new(
                        "share",
                        &cond,
                        r as u32,
                        "theory_pct",
                        share_theory_pct(w),
                    ));
                }
            }
            "hackbench" => {
                let (c, r, t) = cond_rep(value).with_context(ctx)?;
                if let Ok(t) = t.parse() {
                    rows.push(Row::new("overhead", c, r, "seconds", t));
                }
            }
            "cost_before" | "cost_after" => {
                let (c, r, rest) = cond_rep(value).with_context(ctx)?;
                let stats = bpf_stats::parse(rest).with_context(ctx)?;
                let run = cost.entry((c.into(), r)).or_default();
                if key == "cost_before" {
                    run.before = stats;
                } else {
                    run.after = stats;
                }
            }
            "cost_run" => {
                let (c, r, rest) = cond_rep(value).with_context(ctx)?;
                let run = cost.entry((c.into(), r)).or_default();
                for (name, v) in pairs(rest, &ctx)? {
                    match name {
                        "ctxt" => run.ctxt = Some(v.parse().with_context(ctx)?),
                        // hackbench may have printed no time
                        "seconds" => run.seconds = v.parse().ok(),
                        _ => {}
                    }
                }
            }
            "sched_stopped" => {
                // "<scheduler> <repeat> ejected=0|1"
                let (s, r, rest) = cond_rep(value).with_context(ctx)?;
                let ejected = rest.strip_prefix("ejected=").with_context(ctx)?;
                rows.push(Row::new(
                    "health",
                    s,
                    r,
                    "ejected",
                    ejected.parse().with_context(ctx)?,
                ));
            }
            _ => {}
        }
    }
    for ((bench, c, r), h) in &lat {
        let Some(max) = h.max() else { continue };
        for (metric, q) in [("p50_us", 50.0), ("p99_us", 99.0), ("p999_us", 99.9)] {
            rows.push(Row::new(
                bench,
                c,
                *r,
                metric,
                h.percentile(q).unwrap_or(max) as f64,
            ));
        }
        rows.push(Row::new(bench, c, *r, "max_us", max as f64));
        if let Some(pct) = h.pct_at_least(1000) {
            rows.push(Row::new(bench, c, *r, "over1ms_pct", pct));
        }
        rows.push(Row::new(bench, c, *r, "samples", h.total() as f64));
    }
    for ((c, r), run) in &cost {
        for (metric, v) in run.figures() {
            rows.push(Row::new("cost", c, *r, &metric, v));
        }
    }
    rows.sort_by(|a, b| {
        (&a.bench, &a.condition, a.repeat, &a.metric).cmp(&(
            &b.bench,
            &b.condition,
            b.repeat,
            &b.metric,
        ))
    });
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(lines: &str) -> Vec<(String, String)> {
        lines
            .lines()
            .filter_map(|l| l.trim().split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn get(rows: &[Row], bench: &str, cond: &str, rep: u32, metric: &str) -> f64 {
        rows.iter()
            .find(|r| {
                r.bench == bench && r.condition == cond && r.repeat == rep && r.metric == metric
            })
            .unwrap_or_else(|| panic!("no {bench}/{cond}/{rep}/{metric} in {rows:?}"))
            .value
    }

    #[test]
    fn latency_histograms_become_percentiles() {
        let rows = parse(&kv(
            "lat_hist latency stock_idle 1 000100:000990 000500:000008\n\
             lat_hist latency stock_idle 1 001000:000001\n\
             lat_done latency stock_idle 1 overflows=00001 max=70000\n\
             lat_hist latency mus_boost 2 000050:000010\n\
             lat_done latency mus_boost 2 overflows=00000 max=00050\n\
             lat_hist bystander mus_boost 2 000700:000010\n\
             lat_done bystander mus_boost 2 overflows=00000 max=00700",
        ))
        .unwrap();
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "p50_us"), 100.0);
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "p99_us"), 100.0);
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "p999_us"), 1000.0);
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "max_us"), 70000.0);
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "samples"), 1000.0);
        // the 1000 µs sample and the overflow (counted at the max) of 1000
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "over1ms_pct"), 0.2);
        assert_eq!(get(&rows, "latency", "mus_boost", 2, "p99_us"), 50.0);
        assert_eq!(get(&rows, "latency", "mus_boost", 2, "over1ms_pct"), 0.0);
        // the same condition in another benchmark is another histogram
        assert_eq!(get(&rows, "bystander", "mus_boost", 2, "p99_us"), 700.0);
    }

    #[test]
    fn redis_sat_cgshare_and_health_lines() {
        let rows = parse(&kv(
            "redis_sat mus_boost 1 GET,3426.00,1.150,0.100,0.900,3.000,7.700,12.300\n\
             cgshare redis_sat mus_boost 1 elapsed_cs=200 target=3200000 noise=800000\n\
             cgshare threads mus_boost 2 elapsed_cs=500 target=1650000 noise=3300000\n\
             cgshare weights_nested stock_plain 1 elapsed_cs=400 nA=5000000 nB=3000000 nA/x=2000000 nA/y=3000000 nB/z=3000000\n\
             cgshare limit mus_empty 3 elapsed_cs=500 lim=10000000\n\
             sched_stopped mus 2 ejected=1",
        ))
        .unwrap();
        assert_eq!(get(&rows, "redis_sat", "mus_boost", 1, "rps"), 3426.0);
        assert_eq!(get(&rows, "redis_sat", "mus_boost", 1, "p99_ms"), 7.7);
        assert_eq!(get(&rows, "redis_sat", "mus_boost", 1, "p50_ms"), 0.9);
        assert_eq!(get(&rows, "redis_sat", "mus_boost", 1, "max_ms"), 12.3);
        assert_eq!(
            get(&rows, "redis_sat", "mus_boost", 1, "noise_cpu_pct"),
            40.0
        );
        assert!(
            (get(&rows, "threads", "mus_boost", 2, "target_share_pct") - 100.0 / 3.0).abs() < 1e-9
        );
        assert_eq!(
            get(&rows, "threads", "mus_boost", 2, "target_cpu_pct"),
            33.0
        );
        // shares of the top-level cgroups' time; children count inside their parent
        assert_eq!(
            get(&rows, "weights_nested", "stock_plain", 1, "nA_share_pct"),
            62.5
        );
        assert_eq!(
            get(&rows, "weights_nested", "stock_plain", 1, "nA/x_share_pct"),
            25.0
        );
        assert_eq!(
            get(&rows, "weights_nested", "stock_plain", 1, "nB/z_cpu_pct"),
            75.0
        );
        // one cgroup alone: its CPU time in % of one CPU (two full CPUs = 200%)
        assert_eq!(get(&rows, "limit", "mus_empty", 3, "lim_cpu_pct"), 200.0);
        assert_eq!(get(&rows, "health", "mus", 2, "ejected"), 1.0);
        assert!(parse(&kv("redis_sat mus_boost 1 GET,1,2")).is_err());
        assert!(parse(&kv("cgshare threads mus_boost 1 target")).is_err());
    }

    #[test]
    fn rr_lines_become_per_mode_figures_and_per_request_costs() {
        let rows = parse(&kv(
            "rr one stock_idle 2 requests=20000 ctxt=12000 target_us=5000000 GET,4562.00,0.800,0.100,0.700,1.200,1.580,9.100\n\
             rr all mus_boost 2 requests=20000 ctxt=6400 target_us=3700000 GET,9324.00,0.400,0.050,0.350,0.900,1.220,5.000\n\
             rr_bpf one mus_boost 1 20000 mus_enqueue=1000:10 mus_running=0:0 | mus_enqueue=300001000:20010 mus_running=232000000:20000 mus_init_task=50000000:3",
        ))
        .unwrap();
        // the mode names the benchmark: confined to one CPU, or not
        assert_eq!(get(&rows, "rr_one", "stock_idle", 2, "rps"), 4562.0);
        assert_eq!(get(&rows, "rr_one", "stock_idle", 2, "p99_ms"), 1.58);
        assert_eq!(get(&rows, "rr_one", "stock_idle", 2, "ctxt_per_req"), 0.6);
        assert_eq!(
            get(&rows, "rr_one", "stock_idle", 2, "cpu_us_per_req"),
            250.0
        );
        assert_eq!(get(&rows, "rr_all", "mus_boost", 2, "p50_ms"), 0.35);
        assert_eq!(
            get(&rows, "rr_all", "mus_boost", 2, "cpu_us_per_req"),
            185.0
        );
        // every program's time, one that appeared meanwhile from zero: 582 ms / 20000
        assert_eq!(get(&rows, "rr_one", "mus_boost", 1, "bpf_us_per_req"), 29.1);
        assert!(
            !rows
                .iter()
                .any(|r| r.bench == "rr_one" && r.condition == "mus_boost" && r.metric == "rps")
        );
        for bad in [
            "rr two stock_idle 1 requests=1 ctxt=1 target_us=1 GET,1,1,1,1,1,1,1",
            "rr one stock_idle 1 requests=1 ctxt=1 target_us=1 GET,1,2",
            "rr_bpf one mus_boost 1 0 a=1:1 | a=2:2",
            "rr_bpf one mus_boost 1 100 a=1:1 a=2:2",
        ] {
            assert!(parse(&kv(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn cost_lines_become_per_callback_and_per_switch_figures() {
        let rows = parse(&kv(
            "cost_before mus_idle 1 mus_enqueue=1000:10 mus_dispatch=500:5 mus_init_task=100:1\n\
             cost_after mus_idle 1 mus_enqueue=41000:110 mus_dispatch=20500:105 mus_init_task=300:3 mus_select_cpu=9000:30\n\
             cost_run mus_idle 1 ctxt=200 seconds=3.5",
        ))
        .unwrap();
        // (41000 - 1000) / (110 - 10)
        assert_eq!(get(&rows, "cost", "mus_idle", 1, "enqueue_ns"), 400.0);
        assert_eq!(get(&rows, "cost", "mus_idle", 1, "enqueue_calls"), 100.0);
        assert_eq!(get(&rows, "cost", "mus_idle", 1, "dispatch_ns"), 200.0);
        // a program that appeared during the run counts from zero
        assert_eq!(get(&rows, "cost", "mus_idle", 1, "select_cpu_ns"), 300.0);
        // no running/stopping programs: zero calls, no ns per call
        assert_eq!(get(&rows, "cost", "mus_idle", 1, "running_calls"), 0.0);
        assert!(!rows.iter().any(|r| r.metric == "running_ns"));
        // (40000 + 20000 + 9000) / 200; all programs add init_task's 200
        assert_eq!(get(&rows, "cost", "mus_idle", 1, "hot_ns_per_ctxt"), 345.0);
        assert_eq!(get(&rows, "cost", "mus_idle", 1, "all_ns_per_ctxt"), 346.0);
        assert_eq!(get(&rows, "cost", "mus_idle", 1, "seconds"), 3.5);
        assert!(parse(&kv("cost_after mus_idle 1 mus_enqueue=41000")).is_err());
    }

    #[test]
    fn redis_share_and_hackbench_lines() {
        let rows = parse(&kv(
            "redis_rate stock_noise 1 target_rate=500 connections=2 requests=2500 errors=0 \
             elapsed_s=5.003 achieved_rate=499.7 p50_us=79 p90_us=200 p99_us=423 p999_us=4799 \
             max_us=5063 \n\
             share 4096 3 800000 200000\n\
             share_cand 4096 3 700000 300000\n\
             hackbench stock_idle 2 3.125\n\
             hackbench mus_empty_idle 2 \n\
             kernel 7.3",
        ))
        .unwrap();
        assert_eq!(get(&rows, "redis", "stock_noise", 1, "p99_ms"), 0.423);
        assert_eq!(get(&rows, "redis", "stock_noise", 1, "p999_ms"), 4.799);
        assert_eq!(get(&rows, "redis", "stock_noise", 1, "max_ms"), 5.063);
        assert_eq!(get(&rows, "redis", "stock_noise", 1, "p50_ms"), 0.079);
        assert_eq!(get(&rows, "redis", "stock_noise", 1, "rps"), 499.7);
        assert_eq!(get(&rows, "redis", "stock_noise", 1, "errors"), 0.0);
        // p90 and the counts stay in the guest's console, not in the CSV
        assert!(
            !rows
                .iter()
                .any(|r| r.metric.starts_with("p90") || r.metric == "requests")
        );
        assert_eq!(get(&rows, "share", "w4096", 3, "share_pct"), 80.0);
        assert_eq!(get(&rows, "share", "w4096", 3, "theory_pct"), 80.0);
        assert_eq!(get(&rows, "share", "cand_w4096", 3, "share_pct"), 70.0);
        assert_eq!(get(&rows, "overhead", "stock_idle", 2, "seconds"), 3.125);
        // A hackbench that printed no time gives no row.
        assert!(!rows.iter().any(|r| r.condition == "mus_empty_idle"));
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse(&kv("lat_hist latency stock_idle x 1:1")).is_err());
        assert!(parse(&kv("share 4096 1 5")).is_err());
        assert!(parse(&kv("redis_rate stock_idle 1 p50_us 79")).is_err());
        assert!(parse(&kv("redis_rate stock_idle 1 p50_us=x")).is_err());
    }
}
