//! From the guest's `@@MUS auto_*` lines (xtask/scenarios/auto.sh) to one [`RunData`]
//! per (condition, round): the sampler's seconds, every latency by the second its
//! request was due in, and Redis's command counts at the phase boundaries.

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
            "auto_sample" | "auto_lat" | "auto_commands" | "auto_rate" => {
                cond_round(value).with_context(what)?
            }
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
    fn a_garbled_line_is_an_error_naming_it() {
        let e = parse(&lines("@@MUS auto_sample mus_auto 1 0 1000 x 0 0.00 1024")).unwrap_err();
        assert!(
            format!("{e:#}").contains("auto_sample mus_auto 1 0 1000 x"),
            "{e:#}"
        );
        assert!(parse(&lines("@@MUS auto_lat mus_auto")).is_err());
    }
}
