//! The auto mode's control law: from one [`Sample`] per interval (the pod's latency
//! signal, how much of its wait was behind other pods, whether it is idle) to the
//! weight to hold now and a [`Decision`] saying what changed and why.
//!
//! The law is "raise fast, lower slowly" (multiplicative increase, additive
//! decrease, a hysteresis band and a cool-down); `writeups/auto.md` has the
//! experiment that chose it over a fixed step, bang-bang and a PI controller:
//! - a miss mostly behind other pods raises the weight by `raisePercent` of itself,
//!   up to `maxWeight` (and the cap the caller passes: the admin policy's);
//! - a miss mostly behind the pod's own threads or its own `cpu.max` holds it: a
//!   boost would take CPU from others without curing that wait;
//! - between the lower bound (`lowerBelowPercent` of the target) and the target it
//!   holds: the band keeps a noisy signal near the target from moving it;
//! - once the pod has been calm for `coolDown` (the signal below the lower bound,
//!   or met with the wait mostly its own, so that the boost is not what keeps it
//!   met) or idle, each further calm interval lowers it by `lowerStep`, and an
//!   idle pod drops straight to `minWeight`; any other sample restarts the
//!   cool-down, so the weight changes direction at most once per cool-down.
//!
//! Pure: no clock, no I/O. The daemon samples, calls [`Controller::step`], and
//! applies, logs, counts and reports the [`Decision`] (or, with `--dry-run`, only
//! logs it: the signal then does not respond, so the dry-run weight shows what the
//! law would ask for under the current conditions, up to `maxWeight`).

use std::fmt;
use std::time::Duration;

use mus_common::Weight;

use crate::auto::spec::{AutoSettings, Signal};

/// A miss is blamed on other pods when at least this fraction of the wait was
/// spent behind their tasks: most of the wait is theirs, so a boost can cure most of it.
pub const NEIGHBOUR_MAJORITY: f64 = 0.5;

/// What the daemon measured for one pod over one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When the interval ended, on a monotonic clock: the cool-down is timed on it.
    pub at: Duration,
    pub signal: Signal,
    /// Of the pod's wait in the interval, the fraction (0 to 1) spent behind other
    /// cgroups' tasks rather than its own threads or its own `cpu.max` throttling.
    /// `None` when nothing attributes it (PSI alone, without mus): the wait then
    /// counts as other pods', which is all a boost can act on anyway.
    pub neighbour_fraction: Option<f64>,
    /// The pod used next to no CPU in the interval.
    pub idle: bool,
}

/// Why the weight is what it is after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Target missed, mostly behind other pods: raised.
    NeighbourMiss,
    /// Target missed mostly behind other pods, but the weight is at its ceiling.
    AtCeiling,
    /// Target missed, mostly behind the pod's own threads or `cpu.max`: held.
    OwnMiss,
    /// Target met, but not with room to spare: held (the hysteresis band).
    InBand,
    /// Calm or idle, but not for the whole cool-down yet: held.
    CoolingDown { remaining: Duration },
    /// Calm for the cool-down: lowered by a step.
    Calm,
    /// Idle for the cool-down: lowered to the floor.
    Idle,
    /// Calm or idle at the floor: nothing to give back.
    AtFloor,
    /// The held weight was outside the floor and ceiling (the cap came down, or
    /// the settings changed): moved inside.
    Clamped,
    /// The sample's signal is not the one the target names: held.
    WrongSignal,
}

impl Reason {
    /// A short name for a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::NeighbourMiss => "neighbour_miss",
            Reason::AtCeiling => "at_ceiling",
            Reason::OwnMiss => "own_miss",
            Reason::InBand => "in_band",
            Reason::CoolingDown { .. } => "cooling_down",
            Reason::Calm => "calm",
            Reason::Idle => "idle",
            Reason::AtFloor => "at_floor",
            Reason::Clamped => "clamped",
            Reason::WrongSignal => "wrong_signal",
        }
    }
}

/// One step's outcome: everything the daemon needs for its log line, Event and
/// metrics, whether it applies the weight or only logs it (`--dry-run`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub sample: Sample,
    pub target: Signal,
    /// The weight held before this step and the one to hold now.
    pub from: Weight,
    pub to: Weight,
    /// The bounds of this step: `minWeight` and the lower of `maxWeight` and the cap.
    pub floor: Weight,
    pub ceiling: Weight,
    pub reason: Reason,
}

/// Which way a step moved the weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Raised,
    Lowered,
    Held,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Raised => "raised",
            Change::Lowered => "lowered",
            Change::Held => "held",
        }
    }
}

impl Decision {
    pub fn change(&self) -> Change {
        match self.to.cmp(&self.from) {
            std::cmp::Ordering::Greater => Change::Raised,
            std::cmp::Ordering::Less => Change::Lowered,
            std::cmp::Ordering::Equal => Change::Held,
        }
    }
}

/// The sentence a log line or Event carries, e.g. "raised weight 1024 -> 2048: the
/// target is missed, mostly behind other pods (wait p99 2.1ms, target 1ms, 90% of
/// the wait behind other pods)".
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            Reason::NeighbourMiss => "the target is missed, mostly behind other pods".into(),
            Reason::AtCeiling => format!(
                "the target is missed, mostly behind other pods, at the ceiling {}",
                self.ceiling
            ),
            Reason::OwnMiss => {
                "the target is missed, mostly behind the pod's own threads or its own \
                 cpu.max, which a boost does not cure"
                    .into()
            }
            Reason::InBand => "the target is met, without room to spare".into(),
            Reason::CoolingDown { remaining } => {
                format!(
                    "the target is met with room to spare or the pod idle; cooling down for {remaining:?} more"
                )
            }
            Reason::Calm => "the target is met with room to spare for the cool-down".into(),
            Reason::Idle => "the pod is idle for the cool-down".into(),
            Reason::AtFloor => "the target is met at the floor".into(),
            Reason::Clamped => format!(
                "the weight is kept within {} to {} (minWeight, and the lower of maxWeight and the policy's cap)",
                self.floor, self.ceiling
            ),
            Reason::WrongSignal => "the sample's signal is not the one the target names".into(),
        };
        write!(
            f,
            "{} weight {} -> {}: {why} ({}, target {}",
            self.change().label(),
            self.from,
            self.to,
            self.sample.signal,
            self.target.amount(),
        )?;
        match self.sample.neighbour_fraction {
            Some(share) => write!(f, ", {:.0}% of the wait behind other pods", share * 100.0)?,
            None => write!(f, ", the wait not attributed")?,
        }
        if self.sample.idle {
            write!(f, ", idle")?;
        }
        write!(f, ")")
    }
}

/// How a sample compares with the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    NeighbourMiss,
    OwnMiss,
    InBand,
    Calm,
    Idle,
    WrongSignal,
}

/// The law's state for one auto boost: the weight it holds and since when the pod
/// has been calm or idle.
#[derive(Clone, Debug)]
pub struct Controller {
    settings: AutoSettings,
    weight: Weight,
    calm_since: Option<Duration>,
    idle_since: Option<Duration>,
}

impl Controller {
    /// Starts at `minWeight`: no boost until a sample asks for one.
    pub fn new(settings: AutoSettings) -> Controller {
        Controller::holding(settings.min_weight, settings)
    }

    /// Resumes an auto boost that holds `weight`: a restarted daemon that finds
    /// it in force, or new settings for a running boost. The cool-down starts
    /// afresh; a weight outside the new bounds is moved inside at the next step.
    pub fn holding(weight: Weight, settings: AutoSettings) -> Controller {
        Controller {
            weight,
            settings,
            calm_since: None,
            idle_since: None,
        }
    }

    /// The weight held now.
    pub fn weight(&self) -> Weight {
        self.weight
    }

    /// Takes one interval's sample and `cap` (the most the admin policy allows this
    /// pod: its `maxWeight`, or less where the node cap leaves less), and returns
    /// the weight to hold now with the reason.
    pub fn step(&mut self, sample: Sample, cap: Weight) -> Decision {
        let s = &self.settings;
        let ceiling = s.max_weight.min(cap);
        let floor = s.min_weight.min(ceiling);
        let verdict = verdict(s, &sample);
        let calm = matches!(verdict, Verdict::Calm | Verdict::Idle);
        self.calm_since = run_start(self.calm_since, calm, sample.at);
        self.idle_since = run_start(self.idle_since, sample.idle, sample.at);

        let from = self.weight;
        let (to, reason) = if from > ceiling || from < floor {
            (from.clamp(floor, ceiling), Reason::Clamped)
        } else {
            match verdict {
                Verdict::WrongSignal => (from, Reason::WrongSignal),
                Verdict::OwnMiss => (from, Reason::OwnMiss),
                Verdict::InBand => (from, Reason::InBand),
                Verdict::NeighbourMiss if from >= ceiling => (from, Reason::AtCeiling),
                Verdict::NeighbourMiss => (
                    raised(from, s.raise_percent, ceiling),
                    Reason::NeighbourMiss,
                ),
                Verdict::Calm | Verdict::Idle if from <= floor => (from, Reason::AtFloor),
                Verdict::Calm | Verdict::Idle => self.lowered(sample.at, floor),
            }
        };
        self.weight = to;
        Decision {
            sample,
            target: s.target,
            from,
            to,
            floor,
            ceiling,
            reason,
        }
    }

    /// Calm or idle above the floor: lower once the cool-down is over.
    fn lowered(&self, now: Duration, floor: Weight) -> (Weight, Reason) {
        let cool_down = self.settings.cool_down;
        let calm_for =
            |since: Option<Duration>| since.map_or(Duration::ZERO, |s| now.saturating_sub(s));
        if calm_for(self.idle_since) >= cool_down {
            return (floor, Reason::Idle);
        }
        let calm = calm_for(self.calm_since);
        if calm < cool_down {
            return (
                self.weight,
                Reason::CoolingDown {
                    remaining: cool_down - calm,
                },
            );
        }
        let lowered = self.weight.get().saturating_sub(self.settings.lower_step);
        (weight_or(lowered, floor).max(floor), Reason::Calm)
    }
}

/// When a run of samples for which `holds` started: `since` while it goes on, `at`
/// for its first sample, `None` once it breaks.
fn run_start(since: Option<Duration>, holds: bool, at: Duration) -> Option<Duration> {
    holds.then(|| since.unwrap_or(at))
}

/// `from` raised by `percent` of itself (by at least 1), at most `ceiling`. A
/// fixed factor rather than one sized by the miss: a noisy reading then cannot
/// make a raise too small or too large (`writeups/auto.md` has both measured).
fn raised(from: Weight, percent: u32, ceiling: Weight) -> Weight {
    let w = u64::from(from.get());
    let up = (w * u64::from(percent) / 100).max(1);
    weight_or((w + up).min(u64::from(ceiling.get())) as u32, ceiling)
}

/// `value` as a weight, or `fallback` where it is not one (0).
fn weight_or(value: u32, fallback: Weight) -> Weight {
    Weight::new(value.into()).unwrap_or(fallback)
}

pub(super) fn verdict(settings: &AutoSettings, sample: &Sample) -> Verdict {
    if sample.idle {
        return Verdict::Idle;
    }
    let Some(ratio) = sample.signal.ratio_to(settings.target) else {
        return Verdict::WrongSignal;
    };
    let behind_others = sample.neighbour_fraction.unwrap_or(1.0) >= NEIGHBOUR_MAJORITY;
    match (ratio > 1.0, behind_others) {
        (true, true) => Verdict::NeighbourMiss,
        (true, false) => Verdict::OwnMiss,
        // Met, and mostly not behind other pods: the boost is not what keeps it met.
        (false, false) => Verdict::Calm,
        (false, true) if ratio * 100.0 < f64::from(settings.lower_below_percent) => Verdict::Calm,
        (false, true) => Verdict::InBand,
    }
}
