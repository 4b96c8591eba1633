//! From the guest's `@@MUS` lines (see xtask/scenarios/bench.sh) to one row per
//! benchmark, condition, repeat and metric: the CSV's rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, bail};

use super::stats::{Histogram, parse_padded};
use super::summary::Meta;

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
    fn new(bench: &str, condition: &str, repeat: u32, metric: &str, value: f64) -> Row {
        Row {
            bench: bench.into(),
            condition: condition.into(),
            repeat,
            metric: metric.into(),
            value,
        }
    }
}

/// The CPU share a weight should give the target against one ordinary (1024) cgroup, in %.
pub fn share_theory_pct(weight: f64) -> f64 {
    100.0 * weight / (weight + 1024.0)
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

/// Parses every benchmark line of a run. Unknown keys are ignored.
pub fn parse(results: &[(String, String)]) -> anyhow::Result<Vec<Row>> {
    let mut lat: BTreeMap<(String, u32), Histogram> = BTreeMap::new();
    let mut rows = Vec::new();
    for (key, value) in results {
        let ctx = || format!("@@MUS {key} {value}");
        match key.as_str() {
            "lat_hist" => {
                let (c, r, pairs) = cond_rep(value).with_context(ctx)?;
                lat.entry((c.into(), r))
                    .or_default()
                    .add_pairs(pairs)
                    .with_context(ctx)?;
            }
            "lat_done" => {
                let (c, r, rest) = cond_rep(value).with_context(ctx)?;
                let field = |name: &str| {
                    rest.split_whitespace()
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                        .filter(|v| !v.is_empty())
                        .map(parse_padded)
                        .transpose()
                };
                let hist = lat.entry((c.into(), r)).or_default();
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
                let (c, r, pairs) = cond_rep(value).with_context(ctx)?;
                for pair in pairs.split_whitespace() {
                    let (name, v) = pair
                        .split_once('=')
                        .with_context(|| format!("{}: pair without '='", ctx()))?;
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
            "share" => {
                // "<weight> <repeat> <target usec> <noise usec>"
                let f: Vec<f64> = value
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .with_context(ctx)?;
                let [w, r, a, b] = f[..] else {
                    bail!("{}: expected 4 numbers", ctx())
                };
                if a + b > 0.0 {
                    let cond = format!("w{w}");
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
            _ => {}
        }
    }
    for ((c, r), h) in &lat {
        let Some(max) = h.max() else { continue };
        for (metric, q) in [("p50_us", 50.0), ("p99_us", 99.0), ("p999_us", 99.9)] {
            rows.push(Row::new(
                "latency",
                c,
                *r,
                metric,
                h.percentile(q).unwrap_or(max) as f64,
            ));
        }
        rows.push(Row::new("latency", c, *r, "max_us", max as f64));
        rows.push(Row::new("latency", c, *r, "samples", h.total() as f64));
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

/// The CSV text of `rows`, with a header.
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = String::from("bench,condition,repeat,metric,value\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            r.bench, r.condition, r.repeat, r.metric, r.value
        );
    }
    out
}

/// The CSV with the run's facts first, as `# key: value` comment lines.
pub fn to_csv_with_meta(meta: &Meta, rows: &[Row]) -> String {
    let mut out = String::new();
    for (k, v) in [
        ("command", meta.command.clone()),
        ("date", meta.date.clone()),
        ("kernel", meta.kernel.clone()),
        ("scheduler", meta.scheduler.clone()),
        ("repeats", meta.repeats.to_string()),
        ("guest_seconds", format!("{:.0}", meta.guest_seconds)),
    ] {
        let _ = writeln!(out, "# {k}: {v}");
    }
    for n in &meta.notes {
        let _ = writeln!(out, "# note: {n}");
    }
    out + &to_csv(rows)
}

/// Reads back what [`to_csv_with_meta`] wrote.
pub fn from_csv_with_meta(text: &str) -> anyhow::Result<(Meta, Vec<Row>)> {
    let mut meta = Meta::default();
    for line in text.lines() {
        let Some((k, v)) = line.strip_prefix("# ").and_then(|l| l.split_once(": ")) else {
            continue;
        };
        match k {
            "command" => meta.command = v.into(),
            "date" => meta.date = v.into(),
            "kernel" => meta.kernel = v.into(),
            "scheduler" => meta.scheduler = v.into(),
            "repeats" => meta.repeats = v.parse().unwrap_or(0),
            "guest_seconds" => meta.guest_seconds = v.parse().unwrap_or(0.0),
            "note" => meta.notes.push(v.into()),
            _ => {}
        }
    }
    Ok((meta, from_csv(text)?))
}

/// Reads back what [`to_csv`] wrote (`#` comment lines are skipped).
pub fn from_csv(text: &str) -> anyhow::Result<Vec<Row>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let [bench, condition, repeat, metric, value] = f[..] else {
                bail!("bad CSV line {line:?}")
            };
            Ok(Row::new(
                bench,
                condition,
                repeat.parse()?,
                metric,
                value.parse()?,
            ))
        })
        .collect()
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
        let rows = parse(&kv("lat_hist stock_idle 1 000100:000990 000500:000008\n\
             lat_hist stock_idle 1 001000:000001\n\
             lat_done stock_idle 1 overflows=00001 max=70000\n\
             lat_hist mus_boost 2 000050:000010\n\
             lat_done mus_boost 2 overflows=00000 max=00050"))
        .unwrap();
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "p50_us"), 100.0);
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "p99_us"), 100.0);
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "p999_us"), 1000.0);
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "max_us"), 70000.0);
        assert_eq!(get(&rows, "latency", "stock_idle", 1, "samples"), 1000.0);
        assert_eq!(get(&rows, "latency", "mus_boost", 2, "p99_us"), 50.0);
    }

    #[test]
    fn redis_share_and_hackbench_lines() {
        let rows = parse(&kv(
            "redis_rate stock_noise 1 target_rate=500 connections=2 requests=2500 errors=0 \
             elapsed_s=5.003 achieved_rate=499.7 p50_us=79 p90_us=200 p99_us=423 p999_us=4799 \
             max_us=5063 \n\
             share 4096 3 800000 200000\n\
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
        assert_eq!(get(&rows, "overhead", "stock_idle", 2, "seconds"), 3.125);
        // A hackbench that printed no time gives no row.
        assert!(!rows.iter().any(|r| r.condition == "mus_empty_idle"));
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse(&kv("lat_hist stock_idle x 1:1")).is_err());
        assert!(parse(&kv("share 4096 1 5")).is_err());
        assert!(parse(&kv("redis_rate stock_idle 1 p50_us 79")).is_err());
        assert!(parse(&kv("redis_rate stock_idle 1 p50_us=x")).is_err());
    }

    #[test]
    fn csv_round_trips() {
        let rows = vec![
            Row::new("latency", "stock_idle", 1, "p99_us", 248.0),
            Row::new("share", "w2048", 2, "share_pct", 66.25),
        ];
        let text = to_csv(&rows);
        assert!(
            text.starts_with(
                "bench,condition,repeat,metric,value\nlatency,stock_idle,1,p99_us,248\n"
            )
        );
        assert_eq!(from_csv(&text).unwrap(), rows);
        let meta = Meta {
            command: "cargo xtask bench all".into(),
            repeats: 5,
            notes: vec!["lat_config: loops=1500".into()],
            ..Meta::default()
        };
        let text = to_csv_with_meta(&meta, &rows);
        assert!(text.starts_with("# command: cargo xtask bench all\n"));
        let (back, back_rows) = from_csv_with_meta(&text).unwrap();
        assert_eq!(back_rows, rows);
        assert_eq!(
            (back.command.as_str(), back.repeats),
            ("cargo xtask bench all", 5)
        );
        assert_eq!(back.notes, ["lat_config: loops=1500"]);
    }

    #[test]
    fn theory_of_weights() {
        assert_eq!(share_theory_pct(4096.0), 80.0);
        assert!((share_theory_pct(2048.0) - 66.667).abs() < 0.01);
        assert!((share_theory_pct(8192.0) - 88.889).abs() < 0.01);
        assert_eq!(share_theory_pct(1024.0), 50.0);
    }
}
