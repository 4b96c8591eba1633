//! The experiment's figures, from the raw runs: per second (the plots' series) and per
//! run (what the targets judge), as the bench's CSV rows.
//!
//! - `p99_noise_us`: the p99 of every fixed-rate request due while the noise ran.
//! - `settle_s`: seconds from the noise's onset until the p99 is back within the
//!   target, the target of round r being 1.2 x the permanent boost's `p99_noise_us` in
//!   round r (what target 1 allows auto): the first second s of the noise from which two
//!   seconds in a row have a per-second p99 within it; the noise's length when none has.
//! - `p99_after_us`: the p99 over the noise after *auto's* settling time of the same
//!   round, for every condition (so that auto and the permanent boost are compared over
//!   the same seconds).
//! - `noise_cpu_s`, `pod_cpu_s`: CPU seconds each pod got over the whole run.
//! - `weight_quiet_max`: the highest weight sampled before the noise.
//! - `weight_rise_s` and `weight_back_s` ([`weight_rows`], from the per-second rows):
//!   seconds from the noise's onset until the weight reaches its plateau, and from
//!   the noise's end until the weight is 1024 for the rest of the run.
//! - `sat_rps_quiet`, `sat_rps_noise`: Redis's commands per second (both clients)
//!   before and during the noise.

use std::collections::BTreeMap;

use super::series::{RunData, RunKey};
use crate::bench::results::Row;

/// The per-run figures' benchmark name, and the per-second series'.
pub const BENCH: &str = "auto";
pub const BENCH_S: &str = "auto_s";

/// The permanent boost's condition (the reference of the settling target).
pub const MANUAL: &str = "mus_boost";
pub const AUTO: &str = "mus_auto";

/// How much worse than the permanent boost auto's p99 may be (the 1.2x).
pub const P99_SLACK: f64 = 1.2;

/// A run's phases, in seconds: alone, with the noise, alone again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    pub quiet1: u32,
    pub noise: u32,
    pub quiet2: u32,
}

impl Phases {
    pub fn total(&self) -> u32 {
        self.quiet1 + self.noise + self.quiet2
    }
    fn noise_end(&self) -> u32 {
        self.quiet1 + self.noise
    }
}

/// Nearest-rank p99 (redis-rate's rule) of `values`.
pub fn p99(mut values: Vec<u64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((0.99 * values.len() as f64) - 1e-9).ceil().max(1.0) as usize;
    Some(values[rank.min(values.len()) - 1] as f64)
}

/// The p99 of the requests due in seconds `from..to`.
fn window_p99(run: &RunData, from: u32, to: u32) -> Option<f64> {
    let (from, to) = (from as usize, (to as usize).min(run.latencies.len()));
    p99(run.latencies.get(from..to)?.concat())
}

/// See the module's header: the first second of the noise from which two seconds in a
/// row are within `bound`; the noise's length if none.
pub fn settle(run: &RunData, phases: Phases, bound: f64) -> u32 {
    let within = |s: u32| window_p99(run, s, s + 1).is_some_and(|p| p <= bound);
    (phases.quiet1..phases.noise_end().saturating_sub(1))
        .find(|&s| within(s) && within(s + 1))
        .map_or(phases.noise, |s| s - phases.quiet1)
}

/// CPU of one pod from sample `s` to `s + 1`, in percent of one CPU.
fn cpu_pct(run: &RunData, s: usize, of: impl Fn(&super::series::Sample) -> u64) -> Option<f64> {
    let (a, b) = (run.samples.get(s)?, run.samples.get(s + 1)?);
    let cs = b.t_cs.checked_sub(a.t_cs).filter(|cs| *cs > 0)?;
    Some(of(b).saturating_sub(of(a)) as f64 / (cs as f64 * 100.0))
}

/// The weight the pod had: the map's under mus, and under stock its cpu.weight's
/// factor against 100 (`stock_w400` 4096), so that every condition's plot has one.
fn weight(cond: &str, s: &super::series::Sample) -> Option<f64> {
    match (s.weight, cond) {
        (Some(w), _) => Some(f64::from(w)),
        (None, "stock_w400") => Some(4096.0),
        (None, _) => Some(1024.0),
    }
}

/// The per-second rows of one run: `p99_us@s`, `requests@s`, `pod_cpu_pct@s`,
/// `noise_cpu_pct@s`, `weight@s`, `psi@s`, and where the auto daemon ran its
/// readings, `wait_p99_us@s`, `behind_others_pct@s` and `other_pods_cpu_pct@s`
/// (the law's recorded inputs: crates/mus-agent/tests/fixtures/auto/ replays them).
fn per_second(cond: &str, round: u32, run: &RunData, phases: Phases) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |metric: &str, s: u32, v: Option<f64>| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            rows.push(Row::new(BENCH_S, cond, round, &format!("{metric}@{s}"), v));
        }
    };
    for s in 0..phases.total() {
        let i = s as usize;
        push("p99_us", s, window_p99(run, s, s + 1));
        push("requests", s, run.latencies.get(i).map(|l| l.len() as f64));
        push("pod_cpu_pct", s, cpu_pct(run, i, |x| x.pod_us));
        push("noise_cpu_pct", s, cpu_pct(run, i, |x| x.noise_us));
        push(
            "weight",
            s,
            run.samples.get(i).and_then(|x| weight(cond, x)),
        );
        push("psi", s, run.samples.get(i).map(|x| x.psi));
    }
    for (s, r) in run.readings_by_second() {
        push("wait_p99_us", s, r.wait_p99_us);
        push("behind_others_pct", s, r.behind_others_pct);
        push("other_pods_cpu_pct", s, r.other_pods_cpu_pct);
    }
    rows
}

/// Every run's rows: the per-second series and the per-run figures (the module's
/// header), the settling figures against the permanent boost of the same round.
pub fn rows(runs: &BTreeMap<RunKey, RunData>, phases: Phases) -> Vec<Row> {
    let mut out = Vec::new();
    let bound = |round: u32| {
        runs.get(&(MANUAL.to_string(), round))
            .and_then(|m| window_p99(m, phases.quiet1, phases.noise_end()))
            .map(|p| p * P99_SLACK)
    };
    let auto_settle = |round: u32| {
        let run = runs.get(&(AUTO.to_string(), round))?;
        Some(settle(run, phases, bound(round)?))
    };
    for ((cond, round), run) in runs {
        let (cond, round) = (cond.as_str(), *round);
        out.extend(per_second(cond, round, run, phases));
        let mut push = |metric: &str, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                out.push(Row::new(BENCH, cond, round, metric, v));
            }
        };
        push("p99_quiet_us", window_p99(run, 0, phases.quiet1));
        push(
            "p99_noise_us",
            window_p99(run, phases.quiet1, phases.noise_end()),
        );
        push(
            "p99_after_us",
            auto_settle(round).and_then(|s| window_p99(run, phases.quiet1 + s, phases.noise_end())),
        );
        push(
            "settle_s",
            bound(round).map(|b| f64::from(settle(run, phases, b))),
        );
        let (first, last) = (run.samples.first(), run.samples.last());
        let secs = |of: fn(&super::series::Sample) -> u64| {
            Some(of(last?).saturating_sub(of(first?)) as f64 / 1e6)
        };
        push("pod_cpu_s", secs(|x| x.pod_us));
        push("noise_cpu_s", secs(|x| x.noise_us));
        let weights: Vec<(usize, u32)> = run
            .samples
            .iter()
            .enumerate()
            .filter_map(|(s, x)| Some((s, x.weight?)))
            .collect();
        if !weights.is_empty() {
            let quiet = weights.iter().filter(|(s, _)| *s <= phases.quiet1 as usize);
            push(
                "weight_quiet_max",
                quiet.map(|(_, w)| f64::from(*w)).reduce(f64::max),
            );
            push(
                "weight_max",
                weights.iter().map(|(_, w)| f64::from(*w)).reduce(f64::max),
            );
        }
        let c = |k: &str| run.commands.get(k).map(|v| *v as f64);
        let (start, on, off) = (
            c("start"),
            c(&phases.quiet1.to_string()),
            c(&phases.noise_end().to_string()),
        );
        push(
            "sat_rps_quiet",
            on.zip(start)
                .map(|(a, b)| (a - b) / f64::from(phases.quiet1)),
        );
        push(
            "sat_rps_noise",
            off.zip(on).map(|(a, b)| (a - b) / f64::from(phases.noise)),
        );
        push("achieved_rate", run.rate.get("achieved_rate").copied());
    }
    out
}

/// The metrics [`weight_rows`] derives; a dataset's own rows of them give way.
pub const WEIGHT_METRICS: &[&str] = &["weight_rise_s", "weight_back_s"];

/// Of every mus run, from the per-second rows (so that they can be had from any
/// dataset, `--from-csv` included):
/// - `weight_rise_s`: seconds from the noise's onset until the weight first reaches
///   its plateau, the highest weight sampled during the noise (the noise's length if
///   it never rises above 1024): the controller's own settling, beside the p99's;
/// - `weight_back_s`: seconds from the noise's end until the weight is 1024 for the
///   rest of the run (the last quiet phase's length if it never is, so that a round
///   that keeps its boost counts in the median rather than dropping out of it).
pub fn weight_rows(rows: &[Row], phases: Phases) -> Vec<Row> {
    // (condition, round) -> the noise's (second, weight) samples, and those after it
    let mut noise: BTreeMap<(String, u32), Vec<(u32, f64)>> = BTreeMap::new();
    let mut after: BTreeMap<(String, u32), Vec<(u32, f64)>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.bench == BENCH_S && r.condition.starts_with("mus_"))
    {
        let Some(s) = r
            .metric
            .strip_prefix("weight@")
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let key = (r.condition.clone(), r.repeat);
        let seconds = noise.entry(key.clone()).or_default();
        if (phases.quiet1..phases.noise_end()).contains(&s) {
            seconds.push((s, r.value));
        }
        let seconds = after.entry(key).or_default();
        if s >= phases.noise_end() {
            seconds.push((s, r.value));
        }
    }
    let mut out = Vec::new();
    for ((c, r), seconds) in noise {
        let plateau = seconds.iter().map(|(_, w)| *w).fold(1024.0, f64::max);
        let rise = seconds
            .iter()
            .filter(|(_, w)| plateau > 1024.0 && *w >= plateau)
            .map(|(s, _)| s - phases.quiet1)
            .min()
            .unwrap_or(phases.noise);
        out.push(Row::new(BENCH, &c, r, "weight_rise_s", f64::from(rise)));
        let later = &after[&(c.clone(), r)];
        // the first second after the noise from which every one is 1024
        let back = later
            .iter()
            .map(|(s, _)| *s)
            .filter(|&s| later.iter().all(|(t, w)| *t < s || *w == 1024.0))
            .min()
            .map_or(phases.quiet2, |s| s - phases.noise_end());
        out.push(Row::new(BENCH, &c, r, "weight_back_s", f64::from(back)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::series::Sample;
    use super::*;

    const PH: Phases = Phases {
        quiet1: 2,
        noise: 4,
        quiet2: 2,
    };

    /// A run whose second s has latencies `lat[s]` (µs, 10 requests each) and weight
    /// `w[s]`, the pod using 50 % and the noise `noise[s]` % of a CPU per second.
    pub(crate) fn run(lat: &[u64], w: &[u32], noise: &[u64]) -> RunData {
        let mut samples = Vec::new();
        let (mut a, mut b) = (0, 0);
        for s in 0..=PH.total() as usize {
            samples.push(Sample {
                t_cs: 100 * s as u64,
                pod_us: a,
                noise_us: b,
                psi: 1.0,
                weight: w.get(s).copied(),
            });
            a += 500_000;
            b += noise.get(s).copied().unwrap_or(0) * 10_000;
        }
        RunData {
            samples,
            latencies: lat.iter().map(|&l| vec![l; 10]).collect(),
            commands: BTreeMap::from([("start".into(), 0), ("2".into(), 2000), ("6".into(), 4000)]),
            rate: BTreeMap::from([("achieved_rate".into(), 99.0)]),
            ..RunData::default()
        }
    }

    fn get(rows: &[Row], cond: &str, metric: &str) -> Option<f64> {
        rows.iter()
            .find(|r| r.bench == BENCH && r.condition == cond && r.metric == metric)
            .map(|r| r.value)
    }

    #[test]
    fn p99_is_nearest_rank() {
        assert_eq!(p99((1..=100).collect()), Some(99.0));
        assert_eq!(p99((1..=1000).rev().collect()), Some(990.0));
        assert_eq!(p99(vec![7]), Some(7.0));
        assert_eq!(p99(vec![]), None);
    }

    #[test]
    fn settling_is_the_first_of_two_seconds_within_the_bound() {
        // noise from second 2 to 6: bad, bad, good, good
        let r = run(&[1, 1, 9, 9, 2, 2, 1, 1], &[], &[]);
        assert_eq!(settle(&r, PH, 3.0), 2);
        // one good second alone does not count
        let r = run(&[1, 1, 2, 9, 9, 2, 1, 1], &[], &[]);
        assert_eq!(settle(&r, PH, 3.0), PH.noise);
        let r = run(&[1, 1, 2, 2, 9, 9, 1, 1], &[], &[]);
        assert_eq!(settle(&r, PH, 3.0), 0);
    }

    #[test]
    fn figures_compare_auto_with_the_permanent_boost_of_the_same_round() {
        let runs = BTreeMap::from([
            (
                (MANUAL.to_string(), 1),
                run(
                    &[1, 1, 2, 2, 2, 2, 1, 1],
                    &[4096; 9],
                    &[0, 0, 40, 40, 40, 40],
                ),
            ),
            (
                (AUTO.to_string(), 1),
                run(
                    &[1, 1, 9, 2, 2, 2, 1, 1],
                    &[1024, 1024, 1024, 4096, 4096, 4096, 4096, 1024, 1024],
                    &[0, 0, 100, 40, 40, 40],
                ),
            ),
        ]);
        let rows = rows(&runs, PH);
        // auto is back within 1.2 x 2 µs one second into the noise
        assert_eq!(get(&rows, AUTO, "settle_s"), Some(1.0));
        assert_eq!(get(&rows, MANUAL, "settle_s"), Some(0.0));
        assert_eq!(get(&rows, AUTO, "p99_noise_us"), Some(9.0));
        // after auto's settling both are measured over seconds 3..6
        assert_eq!(get(&rows, AUTO, "p99_after_us"), Some(2.0));
        assert_eq!(get(&rows, MANUAL, "p99_after_us"), Some(2.0));
        assert_eq!(get(&rows, AUTO, "weight_quiet_max"), Some(1024.0));
        assert_eq!(get(&rows, AUTO, "noise_cpu_s"), Some(2.2));
        assert_eq!(get(&rows, MANUAL, "noise_cpu_s"), Some(1.6));
        assert_eq!(get(&rows, AUTO, "pod_cpu_s"), Some(4.0));
        assert_eq!(get(&rows, AUTO, "sat_rps_quiet"), Some(1000.0));
        assert_eq!(get(&rows, AUTO, "sat_rps_noise"), Some(500.0));
        // the per-second series
        let noise_at_2 = rows
            .iter()
            .find(|r| r.bench == BENCH_S && r.condition == AUTO && r.metric == "noise_cpu_pct@2")
            .map(|r| r.value);
        assert_eq!(noise_at_2, Some(100.0));
    }

    #[test]
    fn the_weight_rises_to_its_plateau_under_noise_and_comes_back_after_it() {
        let runs = BTreeMap::from([
            (
                (AUTO.to_string(), 1),
                run(
                    &[1; 8],
                    &[1024, 1024, 1024, 2048, 4096, 4096, 1024, 1024, 1024],
                    &[],
                ),
            ),
            (
                (AUTO.to_string(), 2),
                run(
                    &[1; 8],
                    &[1024, 1024, 2048, 3072, 3072, 2048, 1024, 1024, 1024],
                    &[],
                ),
            ),
            ((MANUAL.to_string(), 1), run(&[1; 8], &[4096; 9], &[])),
            (("mus_empty".to_string(), 1), run(&[1; 8], &[1024; 9], &[])),
        ]);
        let weights = weight_rows(&rows(&runs, PH), PH);
        let of = |c: &str, round: u32, metric: &str| {
            weights
                .iter()
                .find(|r| r.condition == c && r.repeat == round && r.metric == metric)
                .map(|r| r.value)
        };
        assert_eq!(of(AUTO, 1, "weight_rise_s"), Some(2.0));
        // a plateau below maxWeight is still the plateau
        assert_eq!(of(AUTO, 2, "weight_rise_s"), Some(1.0));
        assert_eq!(of(MANUAL, 1, "weight_rise_s"), Some(0.0));
        assert_eq!(
            of("mus_empty", 1, "weight_rise_s"),
            Some(f64::from(PH.noise))
        );
        // back to 1024 from the noise's end (second 6)...
        assert_eq!(of(AUTO, 1, "weight_back_s"), Some(0.0));
        assert_eq!(of(AUTO, 2, "weight_back_s"), Some(0.0));
        // ...or never: the last quiet phase's length
        assert_eq!(of(MANUAL, 1, "weight_back_s"), Some(f64::from(PH.quiet2)));
        assert_eq!(weights.len(), 8);
    }

    #[test]
    fn stock_has_the_factor_of_its_cpu_weight() {
        let s = Sample::default();
        assert_eq!(weight("stock_w400", &s), Some(4096.0));
        assert_eq!(weight("stock_noise", &s), Some(1024.0));
    }
}
