//! Scores each candidate law on noise traces and prints the table of
//! `writeups/auto.md`; the test then holds the shipped law to the targets
//! in simulation.

use crate::auto::sim::candidates::{Confirmed, Fixed, Law, Pi, Shipped, Step, settings};
use crate::auto::sim::plant::{self, Plant};
use crate::auto::spec::Signal;

/// A trace: (seconds, noise weight) segments, one sample a second, and the
/// `maxWeight` the laws run with.
struct Trace {
    name: &'static str,
    segments: Vec<(u64, u32)>,
    max_weight: u32,
}

impl Trace {
    /// The noise weight of each interval.
    fn noise(&self) -> Vec<u32> {
        self.segments
            .iter()
            .flat_map(|&(secs, n)| std::iter::repeat_n(n, secs as usize))
            .collect()
    }
}

fn traces() -> Vec<Trace> {
    let once = |n| vec![(60, 0), (120, n), (120, 0)];
    let mut bursts = vec![(30, 0)];
    bursts.extend([(20, 1024), (40, 0)].repeat(5));
    let trace = |name, segments| Trace {
        name,
        segments,
        max_weight: 4096,
    };
    vec![
        trace("light: noise of weight 1024 from 60 s to 180 s", once(1024)),
        trace("heavy: noise of weight 1536 from 60 s to 180 s", once(1536)),
        trace("mild: noise of weight 512 from 60 s to 180 s", once(512)),
        trace(
            "shrinking: 1536 from 60 s, 512 from 120 s to 240 s",
            vec![(60, 0), (60, 1536), (120, 512), (120, 0)],
        ),
        trace("bursts: 1024 for 20 s every 60 s, five times", bursts),
        Trace {
            max_weight: 16384,
            ..trace("light, with maxWeight 16384", once(1024))
        },
    ]
}

fn laws(max_weight: u32) -> Vec<(&'static str, Box<dyn Law>)> {
    let s = || settings(max_weight);
    vec![
        ("no boost (1024)", Box::new(Fixed(1024))),
        (PERMANENT, Box::new(Fixed(max_weight))),
        ("fixed step +/-512", Box::new(Step::new(s(), 512))),
        // From 1024 a raise of max_weight / 1024 times reaches the ceiling.
        (
            "bang-bang min <-> max",
            Box::new(Shipped::new(s(), max_weight * 100 / 1024, 65536)),
        ),
        ("PI kp 0.1 ki 0.1", Box::new(Pi::new(s(), 0.1, 0.1))),
        ("PI kp 0.2 ki 0.3", Box::new(Pi::new(s(), 0.2, 0.3))),
        ("PI kp 0.5 ki 1.0", Box::new(Pi::new(s(), 0.5, 1.0))),
        (
            "x2 after 2 misses, -1024 down",
            Box::new(Confirmed::new(s(), 2)),
        ),
        (SHIPPED, Box::new(Shipped::new(s(), 100, 1024))),
    ]
}

const PERMANENT: &str = "permanent maxWeight";
const SHIPPED: &str = "x2 up, -1024 down (shipped)";

/// Per interval: the weight held, the noise, the measured p99 (ms).
struct Run {
    weight: Vec<u32>,
    noise: Vec<u32>,
    p99_ms: Vec<f64>,
}

/// Each trace runs with each of these seeds; the table reports the mean, or the
/// worst where it says so.
const SEEDS: u64 = 20;

fn run(law: &mut dyn Law, trace: &Trace, seed: u64) -> Run {
    let noise = trace.noise();
    let mut plant = Plant::new(seed);
    let mut w = law.initial();
    let (mut weight, mut p99_ms) = (Vec::new(), Vec::new());
    for (t, &n) in noise.iter().enumerate() {
        let sample = plant.measure(t as u64 + 1, w, n);
        weight.push(w);
        p99_ms.push(match sample.signal {
            Signal::WaitP99(d) => d.as_secs_f64() * 1e3,
            Signal::PsiSomeAvg10(_) => unreachable!("the plant measures waits"),
        });
        w = law.next(sample);
    }
    Run {
        weight,
        noise,
        p99_ms,
    }
}

/// What the table reports for one law on one trace (one seed, or the seeds
/// combined by [`Figures::combine`]).
#[derive(Debug)]
struct Figures {
    /// Seconds from each noise onset until the p99 (without measurement noise)
    /// meets the target for the rest of the episode: the worst episode (and the
    /// worst seed), `None` when one never settles.
    settle: Option<usize>,
    /// The same, the median seed (one seed: its own).
    settle_median: Option<usize>,
    /// Mean measured p99 over the noise intervals after settling (ms).
    p99_settled_ms: f64,
    /// The highest weight held in an episode over the least that meets the target.
    overshoot_pct: f64,
    changes: f64,
    /// Changes of direction (up then down, or down then up): the worst seed.
    reversals: usize,
    mean_weight: f64,
    /// The noise's CPU share during noise, as a percentage of its unboosted share.
    noise_cpu_pct: f64,
    /// Seconds from the noise leaving until the weight is back at 1024: the worst
    /// episode (and seed), `None` when it is not back before the next one (or the end).
    back_to_min: Option<usize>,
}

impl Figures {
    fn combine(seeds: &[Figures]) -> Figures {
        let mean = |f: fn(&Figures) -> f64| seeds.iter().map(f).sum::<f64>() / seeds.len() as f64;
        let worst = |f: fn(&Figures) -> Option<usize>| {
            seeds.iter().map(f).try_fold(0, |a, b| b.map(|b| a.max(b)))
        };
        Figures {
            settle: worst(|f| f.settle),
            settle_median: {
                // Never settling sorts last.
                let mut each: Vec<_> = seeds.iter().map(|f| f.settle.ok_or(())).collect();
                each.sort();
                each[each.len() / 2].ok()
            },
            p99_settled_ms: mean(|f| f.p99_settled_ms),
            overshoot_pct: mean(|f| f.overshoot_pct),
            changes: mean(|f| f.changes),
            reversals: seeds.iter().map(|f| f.reversals).max().unwrap_or(0),
            mean_weight: mean(|f| f.mean_weight),
            noise_cpu_pct: mean(|f| f.noise_cpu_pct),
            back_to_min: worst(|f| f.back_to_min),
        }
    }
}

fn episodes(noise: &[u32]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (t, &n) in noise.iter().chain([&0]).enumerate() {
        match (n > 0, start) {
            (true, None) => start = Some(t),
            (false, Some(s)) => {
                out.push((s, t));
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn figures(run: &Run, target_ms: f64, max_weight: f64) -> Figures {
    let episodes = episodes(&run.noise);
    let mut settle = Some(0);
    let (mut settled_sum, mut settled_count) = (0.0, 0);
    let mut overshoot_pct: f64 = 0.0;
    let mut back_to_min = Some(0);
    for (i, &(start, end)) in episodes.iter().enumerate() {
        let meets = |t: usize| plant::expected_p99_ms(run.weight[t], run.noise[t]) <= target_ms;
        let first = (start..end).rev().take_while(|&t| meets(t)).last();
        settle = settle.zip(first).map(|(s, f)| s.max(f - start));
        for t in first.unwrap_or(start)..end {
            settled_sum += run.p99_ms[t];
            settled_count += 1;
        }
        let loudest = run.noise[start..end].iter().max().copied().unwrap_or(0);
        let needed = plant::needed_weight(loudest, target_ms).clamp(1024.0, max_weight);
        let peak = run.weight[start..end].iter().max().copied().unwrap_or(1024);
        overshoot_pct = overshoot_pct.max((f64::from(peak) / needed - 1.0) * 100.0);
        let next = episodes.get(i + 1).map_or(run.noise.len(), |e| e.0);
        let back = (end..next)
            .find(|&t| run.weight[t] == 1024)
            .map(|t| t - end);
        back_to_min = back_to_min.zip(back).map(|(a, b)| a.max(b));
    }
    let moves: Vec<i64> = run
        .weight
        .windows(2)
        .map(|w| i64::from(w[1]) - i64::from(w[0]))
        .filter(|&d| d != 0)
        .collect();
    let reversals = moves
        .windows(2)
        .filter(|m| m[0].signum() != m[1].signum())
        .count();
    let share = |w: u32, n: u32| f64::from(n) / f64::from(w + n);
    let noisy = || (0..run.noise.len()).filter(|&t| run.noise[t] > 0);
    let noise_cpu_pct = 100.0
        * noisy()
            .map(|t| share(run.weight[t], run.noise[t]))
            .sum::<f64>()
        / noisy().map(|t| share(1024, run.noise[t])).sum::<f64>();
    Figures {
        settle,
        settle_median: settle,
        p99_settled_ms: settled_sum / f64::from(settled_count.max(1)),
        overshoot_pct,
        changes: moves.len() as f64,
        reversals,
        mean_weight: run.weight.iter().map(|&w| f64::from(w)).sum::<f64>()
            / run.weight.len() as f64,
        noise_cpu_pct,
        back_to_min,
    }
}

fn seconds(s: Option<usize>) -> String {
    s.map_or("never".to_string(), |s| s.to_string())
}

fn target_ms() -> f64 {
    let Signal::WaitP99(target) = settings(4096).target else {
        unreachable!("the defaults' target is a wait")
    };
    target.as_secs_f64() * 1e3
}

/// Prints the table and returns each trace's figures by law name.
fn experiment() -> Vec<Vec<(&'static str, Figures)>> {
    let target_ms = target_ms();
    let mut all = Vec::new();
    for trace in traces() {
        println!("\n{}\n", trace.name);
        println!(
            "| law | settle (s), median / worst | p99 after settling (ms) | overshoot | changes | reversals | mean weight | noise CPU | back to 1024 (s) |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        let mut per_law: Vec<Vec<Figures>> = Vec::new();
        for seed in 0..SEEDS {
            for (i, (_, mut law)) in laws(trace.max_weight).into_iter().enumerate() {
                let run = run(law.as_mut(), &trace, seed);
                let f = figures(&run, target_ms, f64::from(trace.max_weight));
                match per_law.get_mut(i) {
                    Some(seeds) => seeds.push(f),
                    None => per_law.push(vec![f]),
                }
            }
        }
        let mut rows = Vec::new();
        for ((name, _), seeds) in laws(trace.max_weight).into_iter().zip(per_law) {
            let f = Figures::combine(&seeds);
            println!(
                "| {name} | {} / {} | {:.2} | {:.0} % | {:.1} | {} | {:.0} | {:.0} % | {} |",
                seconds(f.settle_median),
                seconds(f.settle),
                f.p99_settled_ms,
                f.overshoot_pct,
                f.changes,
                f.reversals,
                f.mean_weight,
                f.noise_cpu_pct,
                seconds(f.back_to_min),
            );
            rows.push((name, f));
        }
        all.push(rows);
    }
    all
}

/// The targets, in simulation: settled within 5 s; after settling, a p99
/// within 1.2x of the permanent boost's; the noise gets more CPU than under the
/// permanent boost; at most one turn down and back up per noise episode and per
/// cool-down of noise; back at 1024 within the cool-down and a few steps after
/// the noise leaves.
#[test]
fn the_shipped_law_meets_the_targets_on_every_trace() {
    for (trace, rows) in traces().iter().zip(experiment()) {
        let find = |name: &str| &rows.iter().find(|(n, _)| *n == name).unwrap().1;
        let (shipped, permanent) = (find(SHIPPED), find(PERMANENT));
        let episodes = episodes(&trace.noise()).len();
        let name = trace.name;
        assert!(
            shipped.settle_median.is_some_and(|s| s <= 5),
            "{name}: {shipped:?}"
        );
        // Every seed settles; the worst may be late: band readings do not restart
        // the cool-down, so a boost with room to spare under mild noise probes a
        // step down after one, and a jittered miss there raises it back.
        assert!(shipped.settle.is_some(), "{name}: {shipped:?}");
        // The comparison is with a permanent 4x boost; with a higher
        // maxWeight the permanent boost overshoots the target by far.
        let bound = match trace.max_weight {
            4096 => 1.2 * permanent.p99_settled_ms,
            _ => target_ms(),
        };
        assert!(
            shipped.p99_settled_ms <= bound,
            "{name}: {shipped:?} against {permanent:?}"
        );
        assert!(
            shipped.noise_cpu_pct > permanent.noise_cpu_pct,
            "{name}: {shipped:?}"
        );
        // At most one turn down (and the turn back up) per cool-down of noise.
        let noisy = trace.noise().iter().filter(|&&n| n > 0).count();
        let cool_downs = noisy.div_ceil(30);
        assert!(
            shipped.reversals <= 2 * (episodes + cool_downs),
            "{name}: {shipped:?}"
        );
        // The cool-down, then one interval per step of 1024 from the ceiling.
        let steps = (trace.max_weight - 1024).div_ceil(1024) as usize;
        assert!(
            shipped.back_to_min.is_some_and(|s| s <= 30 + steps + 1),
            "{name}: {shipped:?}"
        );
    }
}
