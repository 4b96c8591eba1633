//! How a target is judged: the two rules that checks.rs's header states (paired rounds
//! for the latency and time targets, every repeat for the CPU-share targets), the
//! verdicts, and how the figures read.

use std::fmt;

use super::aggregate::{Aggregate, Series, Spread};

/// What a target is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// A boosted cgroup gets its CPU, and gets it promptly; an empty map costs nothing.
    Boost,
    /// Everything the boost does not touch keeps its share and its wake-ups, and mus
    /// does no worse than the peers.
    Fairness,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Area::Boost => "boost",
            Area::Fairness => "fairness",
        })
    }
}

/// How a target is judged (see the module's header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The median of the per-round ratios meets the bound and mus wins most rounds.
    Paired,
    /// The target holds in every repeat.
    EveryRepeat,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Rule::Paired => "paired rounds",
            Rule::EveryRepeat => "every repeat",
        })
    }
}

/// The outcome of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// Paired, but fewer than [`MIN_ROUNDS`] rounds: figures only.
    TooFewRounds,
    NotMeasured,
}

impl Verdict {
    /// How a summary's tables print it (a miss in bold).
    pub fn markdown(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "**missed**",
            Verdict::TooFewRounds => "too few rounds",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// The fewest paired rounds a paired target is judged on.
pub const MIN_ROUNDS: usize = 5;

/// One target: what was asked, the rule, the figures, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub area: Area,
    pub rule: Rule,
    pub target: String,
    pub figure: String,
    pub verdict: Verdict,
}

/// How a check prints its figures.
pub struct Fmt {
    pub unit: &'static str,
    pub decimals: usize,
}

pub const US: Fmt = Fmt {
    unit: " µs",
    decimals: 0,
};
pub const MS: Fmt = Fmt {
    unit: " ms",
    decimals: 3,
};
const PCT: Fmt = Fmt {
    unit: "%",
    decimals: 1,
};
pub const SECS: Fmt = Fmt {
    unit: " s",
    decimals: 3,
};
pub const RPS: Fmt = Fmt {
    unit: " requests/s",
    decimals: 0,
};

/// A paired target's bound on the ratio mus / reference.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// ratio <= k
    AtMost(f64),
    /// ratio < k
    Below(f64),
    /// ratio >= k, for a throughput; against one reference only ([`paired`] takes the
    /// smallest of several, which suits the bounds above)
    AtLeast(f64),
}

impl Bound {
    fn holds(self, ratio: f64) -> bool {
        match self {
            Bound::AtMost(k) => ratio <= k,
            Bound::Below(k) => ratio < k,
            Bound::AtLeast(k) => ratio >= k,
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Bound::AtMost(k) => write!(f, "<= {k:.2}x"),
            Bound::Below(k) => write!(f, "< {k:.2}x"),
            Bound::AtLeast(k) => write!(f, ">= {k:.2}x"),
        }
    }
}

fn median(v: &[f64]) -> f64 {
    Spread::of(v).map_or(f64::NAN, |s| s.median)
}

fn not_measured(area: Area, rule: Rule, target: String) -> Check {
    Check {
        area,
        rule,
        target,
        figure: "not measured".into(),
        verdict: Verdict::NotMeasured,
    }
}

/// `x / y`, a round's ratio; a zero reference makes any positive figure infinitely worse
/// and two zeros even.
fn ratio(x: f64, y: f64) -> f64 {
    if y > 0.0 {
        x / y
    } else if x > 0.0 {
        f64::INFINITY
    } else {
        1.0
    }
}

/// Judges `a` against `refs` round by round under the paired rule (the module's header).
pub fn paired(
    agg: &Aggregate,
    area: Area,
    target: String,
    a: Series,
    refs: &[Series],
    f: &Fmt,
    bound: Bound,
) -> Check {
    debug_assert!(
        refs.len() == 1 || !matches!(bound, Bound::AtLeast(_)),
        "an at-least bound against the smallest of several references"
    );
    paired_rounds(area, target, &agg.paired(a, refs), f, bound)
}

/// The paired rule over `rounds` given as (round, figure, reference): [`paired`]'s
/// judgement, for a reference that is not a measured series (a fixed bound, or a
/// figure computed from several conditions of the same round).
pub fn paired_rounds(
    area: Area,
    target: String,
    rounds: &[(u32, f64, f64)],
    f: &Fmt,
    bound: Bound,
) -> Check {
    if rounds.is_empty() {
        return not_measured(area, Rule::Paired, target);
    }
    let ratios: Vec<f64> = rounds.iter().map(|(_, x, y)| ratio(*x, *y)).collect();
    let med = median(&ratios);
    let d = f.decimals;
    let lost: Vec<String> = rounds
        .iter()
        .zip(&ratios)
        .filter(|(_, r)| !bound.holds(**r))
        .map(|((i, x, y), r)| format!("r{i}: {x:.d$} vs {y:.d$} = {r:.2}x"))
        .collect();
    let (n, wins) = (rounds.len(), rounds.len() - lost.len());
    let mut figure = format!(
        "median {med:.2}x ({bound} to hold), mus wins {wins}/{n}; medians {:.d$} vs {:.d$}{}",
        median(&rounds.iter().map(|p| p.1).collect::<Vec<_>>()),
        median(&rounds.iter().map(|p| p.2).collect::<Vec<_>>()),
        f.unit
    );
    if !lost.is_empty() {
        figure.push_str(&format!(" (lost {})", lost.join(", ")));
    }
    let verdict = if n < MIN_ROUNDS {
        figure.push_str(&format!(" (only {n} round(s), {MIN_ROUNDS} needed)"));
        Verdict::TooFewRounds
    } else if bound.holds(med) && 2 * wins > n {
        Verdict::Met
    } else {
        Verdict::Missed
    };
    Check {
        area,
        rule: Rule::Paired,
        target,
        figure,
        verdict,
    }
}

/// `a`'s per-round ratios to `reference`, over the rounds that measured both.
fn ratios_in_rounds(agg: &Aggregate, a: Series, reference: Series) -> Vec<f64> {
    agg.paired(a, &[reference])
        .iter()
        .map(|(_, x, y)| ratio(*x, *y))
        .collect()
}

/// Adds to a paired latency target's figure where the SCHED_FIFO floor (`floor`: the
/// probe that no scheduler delays) stood against the same `reference` in the same
/// rounds, the median of its per-round ratios. Not a verdict: where the floor itself is
/// past the bound, the host put the bound out of any scheduler's reach in that boot, and
/// the reader should know it.
pub fn with_floor(mut check: Check, agg: &Aggregate, floor: Series, reference: Series) -> Check {
    let ratios = ratios_in_rounds(agg, floor, reference);
    if !ratios.is_empty() {
        check.figure.push_str(&format!(
            "; the SCHED_FIFO floor: median {:.2}x in the same rounds",
            median(&ratios)
        ));
    }
    check
}

/// Adds to a paired target's figure where each peer (`peers`: its name and series) stood
/// against the same `reference` under the same `bound` in the same rounds: the median of
/// its per-round ratios and the rounds the bound held. Not a verdict: where no sched_ext
/// scheduler comes near a bound, what is missing may be sched_ext's own cost on this
/// guest rather than mus's, and the reader should know it.
pub fn with_peers(
    mut check: Check,
    agg: &Aggregate,
    peers: &[(&str, Series)],
    reference: Series,
    bound: Bound,
) -> Check {
    let seen: Vec<String> = peers
        .iter()
        .filter_map(|(name, s)| {
            let ratios = ratios_in_rounds(agg, *s, reference);
            let held = ratios.iter().filter(|r| bound.holds(**r)).count();
            (!ratios.is_empty()).then(|| {
                let med = median(&ratios);
                format!("{name} median {med:.2}x, held {held}/{}", ratios.len())
            })
        })
        .collect();
    if !seen.is_empty() {
        check
            .figure
            .push_str(&format!("; in the same rounds {}", seen.join(", ")));
    }
    check
}

/// Judges `pass(a, b)` in every repeat that measured `a` and `b` (a fixed bound or
/// another condition's value in the same repeat).
fn every_repeat(
    area: Area,
    target: String,
    pairs: &[(u32, f64, f64)],
    f: &Fmt,
    pass: impl Fn(f64, f64) -> bool,
) -> Check {
    if pairs.is_empty() {
        return not_measured(area, Rule::EveryRepeat, target);
    }
    let d = f.decimals;
    let a = median(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let b = median(&pairs.iter().map(|p| p.2).collect::<Vec<_>>());
    let failed: Vec<String> = pairs
        .iter()
        .filter(|(_, x, y)| !pass(*x, *y))
        .map(|(r, x, y)| format!("r{r}: {x:.d$} vs {y:.d$}"))
        .collect();
    let mut figure = format!(
        "{a:.d$} vs {b:.d$}{} (medians); held in {}/{} repeats",
        f.unit,
        pairs.len() - failed.len(),
        pairs.len()
    );
    if !failed.is_empty() {
        figure.push_str(&format!(" (failed {})", failed.join(", ")));
    }
    Check {
        area,
        rule: Rule::EveryRepeat,
        target,
        figure,
        verdict: if failed.is_empty() {
            Verdict::Met
        } else {
            Verdict::Missed
        },
    }
}

/// [`every_repeat`] of `a` against `b`'s value in the same repeat.
pub fn share_vs(
    agg: &Aggregate,
    area: Area,
    target: String,
    a: Series,
    b: Series,
    pass: impl Fn(f64, f64) -> bool,
) -> Check {
    every_repeat(area, target, &agg.paired(a, &[b]), &PCT, pass)
}

/// [`every_repeat`] of `a` against a fixed `bound` (a theory).
pub fn share_fixed(
    agg: &Aggregate,
    area: Area,
    target: String,
    a: Series,
    bound: f64,
    pass: impl Fn(f64, f64) -> bool,
) -> Check {
    let pairs: Vec<(u32, f64, f64)> = agg
        .per_repeat(a.0, a.1, a.2)
        .into_iter()
        .map(|(r, x)| (r, x, bound))
        .collect();
    every_repeat(area, target, &pairs, &PCT, pass)
}
