//! From the guest's `@@MUS auto_*` lines (xtask/scenarios/auto.sh) to one [`RunData`]
//! per (condition, round): the sampler's seconds, every latency by the second its
//! request was due in, Redis's command counts at the phase boundaries, and the auto
//! daemon's readings (the control law's inputs, from its debug log) by second.

use std::collections::BTreeMap;

use anyhow::{Context, bail};

/// One second's sample (taken at the second's start, on the run's schedule).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The guest's uptime, hundredths of a second.
    pub t_cs: u64,
    /// cpu.stat usage_usec of the pod and of the noise pod.
    pub pod_us: u64,
    pub noise_us: u64,
    /// The pod's cpu.pressure "some avg10", percent.
    pub psi: f64,
    /// The pod's weight in mus's map (1024 without an entry); `None` under stock.
    pub weight: Option<u32>,
}

/// One run of one condition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunData {
    /// By second, from 0 to the run's length (one more sample than seconds).
    pub samples: Vec<Sample>,
    /// By second: the latencies (µs) of the fixed-rate requests due in it.
    pub latencies: Vec<Vec<u64>>,
    /// Redis's total_commands_processed: `start`, `total` (over the run) and at the
    /// seconds the noise started and stopped (`"<second>"`).
    pub commands: BTreeMap<String, u64>,
    /// redis-rate's summary (`achieved_rate`, `p99_us`, ...).
    pub rate: BTreeMap<String, f64>,
    /// Second 0 of the run, UTC seconds since midnight (the daemon log's clock).
    pub clock: Option<f64>,
    /// The daemon's readings, by UTC seconds since midnight.
    pub readings: Vec<(f64, Reading)>,
}

/// One interval's reading of the auto daemon (its `reading: ...` debug line,
/// crates/mus-agent/src/daemon/auto_loop.rs): the law's inputs before the daemon
/// drops the share behind other cgroups for want of busy pods.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    pub wait_p99_us: Option<f64>,
    pub behind_others_pct: Option<f64>,
    pub other_pods_cpu_pct: Option<f64>,
}

impl RunData {
    /// The readings by the run's second they were taken in (each covers the
    /// interval before it); a second with two keeps the later.
    pub fn readings_by_second(&self) -> BTreeMap<u32, Reading> {
        let Some(zero) = self.clock else {
            return BTreeMap::new();
        };
        self.readings
            .iter()
            .filter_map(|(at, r)| {
                // across midnight: the nearest day
                let since = (at - zero + 43_200.0).rem_euclid(86_400.0) - 43_200.0;
                (since >= 0.0).then_some((since as u32, *r))
            })
            .collect()
    }
}

/// "HH:MM:SS.fraction" (after a date and 'T' or ' ', before 'Z' or a zone) as
/// seconds since midnight.
fn time_of_day(stamp: &str) -> Option<f64> {
    let time = stamp.split(['T', ' ']).nth(1)?.trim_end_matches('Z');
    let mut it = time.split(':');
    let (h, m, s) = (it.next()?, it.next()?, it.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// A daemon log line's reading and its time: `None` for any other line.
fn reading(line: &str) -> Option<(f64, Reading)> {
    let (_, rest) = line.split_once("reading: ")?;
    let at = time_of_day(line.split_whitespace().next()?)?;
    let mut r = Reading::default();
    for (k, v) in rest.split_whitespace().filter_map(|p| p.split_once('=')) {
        let v = v.parse::<f64>().ok();
        match k {
            "wait_p99_us" => r.wait_p99_us = v,
            "behind_others_pct" => r.behind_others_pct = v,
            "other_pods_cpu_pct" => r.other_pods_cpu_pct = v,
            _ => {}
        }
    }
    Some((at, r))
}

/// (condition, round).
pub type RunKey = (String, u32);

/// "cond round rest" → its parts.
fn cond_round(value: &str) -> anyhow::Result<(RunKey, &str)> {
    let mut it = value.splitn(3, ' ');
    let cond = it
        .next()
        .filter(|c| !c.is_empty())
        .context("no condition")?;
    let round = it
        .next()
        .context("no round")?
        .parse()
        .context("bad round")?;
    Ok(((cond.to_string(), round), it.next().unwrap_or("").trim()))
}

/// Parses "name=value ..." pairs.
fn pairs<T: std::str::FromStr>(text: &str) -> anyhow::Result<Vec<(String, T)>> {
    text.split_whitespace()
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .with_context(|| format!("{p:?}: no '='"))?;
            let v = v
                .parse()
                .map_err(|_| anyhow::anyhow!("{p:?}: not a number"))?;
            Ok((k.to_string(), v))
        })
        .collect()
}

/// Puts `v` at `index`, growing `list` with defaults.
fn put<T: Default + Clone>(list: &mut Vec<T>, index: usize, v: T) {
    if list.len() <= index {
        list.resize(index + 1, T::default());
    }
    list[index] = v;
}

impl Default for Sample {
    fn default() -> Sample {
        Sample {
            t_cs: 0,
            pod_us: 0,
            noise_us: 0,
            psi: f64::NAN,
            weight: None,
        }
    }
}

/// Every run the guest reported, by (condition, round).
pub fn parse(results: &[(String, String)]) -> anyhow::Result<BTreeMap<RunKey, RunData>> {
    let mut runs: BTreeMap<RunKey, RunData> = BTreeMap::new();
    for (key, value) in results {
        let what = || format!("@@MUS {key} {value}");
        let (run, rest) = match key.as_str() {
            "auto_sample" | "auto_lat" | "auto_commands" | "auto_rate" | "auto_clock"
            | "auto_log" => cond_round(value).with_context(what)?,
            _ => continue,
        };
        let data = runs.entry(run).or_default();
        match key.as_str() {
            "auto_sample" => {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let [s, t, a, b, psi, w] = f[..] else {
                    bail!("{}: want 6 fields", what());
                };
                let n = |x: &str| x.parse::<u64>().with_context(what);
                let sample = Sample {
                    t_cs: n(t)?,
                    pod_us: n(a)?,
                    noise_us: n(b)?,
                    psi: psi.parse().unwrap_or(f64::NAN),
                    weight: match w {
                        "-" => None,
                        w => Some(w.parse().with_context(what)?),
                    },
                };
                put(&mut data.samples, n(s)? as usize, sample);
            }
            "auto_lat" => {
                let mut it = rest.split_whitespace();
                let s: usize = it.next().context("no second").with_context(what)?.parse()?;
                let lat = it
                    .map(|v| v.parse::<u64>())
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(what)?;
                put(&mut data.latencies, s, lat);
            }
            "auto_commands" => data.commands.extend(pairs(rest).with_context(what)?),
            "auto_rate" => data.rate.extend(pairs(rest).with_context(what)?),
            "auto_clock" => data.clock = Some(time_of_day(rest).with_context(what)?),
            "auto_log" => data.readings.extend(reading(rest)),
            _ => unreachable!("filtered above"),
        }
    }
    Ok(runs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn lines(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("@@MUS "))
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap_or((l, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn parses_samples_latencies_and_counts_by_run() {
        let runs = parse(&lines(
            "@@MUS auto_config quiet1=1
             @@MUS auto_sample mus_auto 2 1 1100 3000000 500000 12.50 2048
             @@MUS auto_sample mus_auto 2 0 1000 2000000 0 0.00 1024
             @@MUS auto_sample stock_noise 2 0 1000 7 8 1.00 -
             @@MUS auto_lat mus_auto 2 0 40 55 900
             @@MUS auto_lat mus_auto 2 1
             @@MUS auto_commands mus_auto 2 total=5000 start=10 1=2600
             @@MUS auto_rate mus_auto 2 requests=200 achieved_rate=99.5",
        ))
        .unwrap();
        assert_eq!(runs.len(), 2);
        let r = &runs[&("mus_auto".to_string(), 2)];
        assert_eq!(r.samples.len(), 2);
        assert_eq!(r.samples[0].weight, Some(1024));
        assert_eq!(r.samples[1].pod_us, 3_000_000);
        assert_eq!(r.samples[1].psi, 12.5);
        assert_eq!(r.latencies, vec![vec![40, 55, 900], vec![]]);
        assert_eq!(r.commands["1"], 2600);
        assert_eq!(r.rate["achieved_rate"], 99.5);
        assert_eq!(
            runs[&("stock_noise".to_string(), 2)].samples[0].weight,
            None
        );
    }

    #[test]
    fn the_daemons_readings_fall_in_the_seconds_of_the_run() {
        let runs = parse(&lines(
            "@@MUS auto_log mus_auto 1 2026-12-04T23:59:58.900000Z DEBUG mus_agent::daemon::auto_loop: b: pod shop/redis: reading: wait_p99_us=1 behind_others_pct=- other_pods_cpu_pct=0.0 idle=false cpuboost=b pod=shop/redis
             @@MUS auto_clock mus_auto 1 2026-12-04 23:59:59.500000000 +0000
             @@MUS auto_log mus_auto 1 2026-12-04T23:59:59.900000Z DEBUG mus_agent::daemon::auto_loop: b: pod shop/redis: reading: wait_p99_us=5200 behind_others_pct=75.0 other_pods_cpu_pct=31.5 idle=false cpuboost=b pod=shop/redis
             @@MUS auto_log mus_auto 1 2026-12-05T00:00:01.600000Z DEBUG mus_agent::daemon::auto_loop: b: pod shop/redis: held weight 1024 -> 1024
             @@MUS auto_log mus_auto 1 2026-12-05T00:00:01.700000Z DEBUG mus_agent::daemon::auto_loop: b: pod shop/redis: reading: wait_p99_us=900 behind_others_pct=60.0 other_pods_cpu_pct=0.1 idle=false",
        ))
        .unwrap();
        let by_second = runs[&("mus_auto".to_string(), 1)].readings_by_second();
        // before second 0 (the daemon starts first): left out; across midnight: kept
        assert_eq!(by_second.keys().copied().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(
            by_second[&0],
            Reading {
                wait_p99_us: Some(5200.0),
                behind_others_pct: Some(75.0),
                other_pods_cpu_pct: Some(31.5)
            }
        );
        assert_eq!(by_second[&2].other_pods_cpu_pct, Some(0.1));
    }

    #[test]
    fn a_garbled_line_is_an_error_naming_it() {
        let e = parse(&lines("@@MUS auto_sample mus_auto 1 0 1000 x 0 0.00 1024")).unwrap_err();
        assert!(
            format!("{e:#}").contains("auto_sample mus_auto 1 0 1000 x"),
            "{e:#}"
        );
        assert!(parse(&lines("@@MUS auto_lat mus_auto")).is_err());
    }
}
