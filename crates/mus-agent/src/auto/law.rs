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
//! - the pod is calm over the cool-down when `coolDown` has passed without a
//!   miss behind other pods and at least [`CALM_SHARE`] of that window's
//!   samples were calm (the signal below the lower bound, or met with the wait
//!   mostly its own, so that the boost is not what keeps it met); each calm
//!   sample then lowers it by `lowerStep`. A pod idle for `coolDown` drops
//!   straight to `minWeight`. Only a miss behind other pods restarts the
//!   cool-down: readings in the band, and misses the boost cannot cure, hold
//!   the weight without restarting it. So the weight turns down at most once
//!   per cool-down after it last rose, and a miss after lowering raises it
//!   again at once;
//! - a lowering that the next miss undid doubles the cool-down before the next
//!   one, up to [`MAX_BACKOFF`] times it (a probe that backs off), and that miss
//!   raises the weight at least back to where the probe started: until the
//!   other pods go quiet, the pod idles or it reads calm at the floor;
//! - while the wait is mostly behind other pods, each lowering waits a
//!   cool-down of its own after the one before (a probe goes down one step at
//!   a time); once the wait is mostly the pod's own or the other pods are
//!   quiet, the weight steps down every calm sample.
//!
//! Why the back-off: a boost that holds the noise off reads calm, and the wait
//! alone cannot tell "the boost is holding the noise off" from "the noise has
//! gone". In the guest (run 5 of `evaluation/journal/auto.md`) the law stepped
//! a working boost down after every cool-down of steady noise, the next second
//! missed and doubled it back, and each dip cost the pod its p99 (1.77x the
//! permanent boost's over the noise). With the back-off a pod under steady
//! noise probes at 5, 10, then every 20 s of a 5 s cool-down instead of every
//! 5 s; once the other pods go quiet, the give-back takes one cool-down again.
//!
//! Why a probe steps once per cool-down while the wait is behind other pods: readings
//! lag the weight by a second, so a probe that stepped every calm second went
//! 4096, 3072, 2048, 1024 before its first miss came back, and those seconds
//! at half the permanent boost's weight cost the pod 8-20 ms (run 8 of
//! `evaluation/journal/auto.md`: the one probe of each round was the whole of
//! auto's p99 excess, 1.24x the permanent boost's). One step, then a
//! cool-down's readings of it, bounds what a probe can cost to one step's
//! worth of latency. With the wait the pod's own, or other pods quiet, the boost
//! holds nothing off and the give-back is not a probe: it steps each calm second.
//!
//! Why calm is judged over the window rather than every sample: on the guest
//! the per-second wait p99 of a boosted pod jitters by 2-3x from second to
//! second once the noise has gone (0.7-5.6 ms against a 5 ms target, run 4 of
//! `evaluation/journal/auto.md`); when every band reading restarted the
//! cool-down, a calm run of `coolDown` seconds never came and the boost was
//! held in every round. A miss still restarts it, so a signal that keeps
//! reaching the target keeps its boost; and a pod whose boost holds it in the
//! band under noise (mostly band readings, a few calm ones) keeps it too.
//!
//! "Behind other pods" is what the scheduler calls behind other *cgroups*,
//! which includes the node's own processes (the agent, kworkers, a benchmark
//! client). [`behind_other_pods`] leaves none of a wait on other pods'
//! account when no other pod used CPU in the interval: the daemon reads that
//! from the pods' cgroups, and a boost then has nobody to take from. A sample
//! with none of its wait behind other pods is calm, met or missed: the boost
//! holds nothing off.
//!
//! Pure: no clock, no I/O. The daemon samples, calls [`Controller::step`], and
//! applies, logs, counts and reports the [`Decision`] (or, with `--dry-run`, only
//! logs it: the signal then does not respond, so the dry-run weight shows what the
//! law would ask for under the current conditions, up to `maxWeight`).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use mus_common::Weight;

use crate::auto::spec::{AutoSettings, Signal};

/// A miss is blamed on other pods when at least this fraction of the wait was
/// spent behind their tasks: most of the wait is theirs, so a boost can cure most of it.
pub const NEIGHBOUR_MAJORITY: f64 = 0.5;

/// The share of the cool-down's samples that must be calm before a calm sample
/// lowers the weight. Three in four: a boost that holds noise off leaves most
/// readings in the band and keeps it, one with room to spare after the noise
/// has gone gives it back though a reading in four is not calm. Half gave the
/// simulation's mild noise (`sim/`, 512 against 1024) a probe down and back up
/// every cool-down, the median settling 52 s; three in four, 1 s.
pub const CALM_SHARE: f64 = 0.75;

/// The most a lowering that a miss undid stretches the cool-down (`coolDown` x
/// 1, 2, 4): a pod under steady noise probes whether it still needs its boost
/// every fourth cool-down at the least, so a node whose other pods are always
/// busy still gets the CPU back from a pod that stopped needing it.
pub const MAX_BACKOFF: u32 = 4;

/// What the daemon measured for one pod over one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When the interval ended, on a monotonic clock: the cool-down is timed on it.
    pub at: Duration,
    pub signal: Signal,
    /// Of the pod's wait in the interval, the fraction (0 to 1) spent behind other
    /// cgroups' tasks rather than its own threads or its own `cpu.max` throttling.
    /// `None` when nothing attributes it (PSI alone, without mus): the wait then
    /// counts as other pods', which is all a boost can act on anyway. The daemon
    /// passes it through [`behind_other_pods`].
    pub neighbour_fraction: Option<f64>,
    /// The pod used next to no CPU in the interval.
    pub idle: bool,
}

impl Sample {
    /// At least [`NEIGHBOUR_MAJORITY`] of the wait was behind other pods (all of it
    /// when not attributed): a boost can cure most of it.
    fn mostly_behind_others(&self) -> bool {
        self.neighbour_fraction.unwrap_or(1.0) >= NEIGHBOUR_MAJORITY
    }
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
    /// Calm or idle, but the cool-down since the last miss behind other pods
    /// (or since the pod went idle) is not over yet: held.
    CoolingDown { remaining: Duration },
    /// Calm, the cool-down over, but fewer than [`CALM_SHARE`] of its samples
    /// were calm (the rest in the band, or misses the boost cannot cure): held.
    Unsettled { calm_percent: u32 },
    /// Calm, the cool-down over: lowered by a step.
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
            Reason::Unsettled { .. } => "unsettled",
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
    /// What moving the weight `from` -> `to` is.
    pub fn between(from: Weight, to: Weight) -> Change {
        match to.cmp(&from) {
            std::cmp::Ordering::Greater => Change::Raised,
            std::cmp::Ordering::Less => Change::Lowered,
            std::cmp::Ordering::Equal => Change::Held,
        }
    }

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
        Change::between(self.from, self.to)
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
            Reason::Unsettled { calm_percent } => format!(
                "the target is met with room to spare, but only {calm_percent}% of the cool-down's readings were"
            ),
            Reason::Calm => {
                "the target is met with room to spare, no miss behind other pods for the cool-down"
                    .into()
            }
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

/// The law's state for one auto boost: the weight it holds, since when no sample
/// has missed behind other pods, since when the pod has been idle, and which of
/// the cool-down's samples were calm.
#[derive(Clone, Debug)]
pub struct Controller {
    settings: AutoSettings,
    weight: Weight,
    no_miss_since: Option<Duration>,
    idle_since: Option<Duration>,
    /// (when, calm) of the samples of the last `coolDown`.
    window: VecDeque<(Duration, bool)>,
    /// The cool-down's multiplier (1 to [`MAX_BACKOFF`]), doubled by a lowering
    /// that the next change undid.
    backoff: u32,
    /// The last change of the weight (`Held` until one).
    last_change: Change,
    /// The weight held before the lowerings since the last raise began: what a
    /// miss among or after them returns to.
    probed_from: Option<Weight>,
    /// When the weight was last lowered: while the wait is mostly behind other
    /// pods, the next lowering waits a cool-down after it.
    lowered_at: Option<Duration>,
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
            no_miss_since: None,
            idle_since: None,
            window: VecDeque::new(),
            backoff: 1,
            last_change: Change::Held,
            probed_from: None,
            lowered_at: None,
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
        let verdict = verdict(&self.settings, &sample);
        // Other pods quiet (none of the wait is theirs) or the pod idle: no
        // noise left for a boost to hold off, so the back-off ends at once.
        if sample.neighbour_fraction == Some(0.0) || verdict == Verdict::Idle {
            self.end_probing();
        }
        let s = &self.settings;
        let ceiling = s.max_weight.min(cap);
        let floor = s.min_weight.min(ceiling);
        let missed = verdict == Verdict::NeighbourMiss;
        self.no_miss_since = run_start(self.no_miss_since, !missed, sample.at);
        self.idle_since = run_start(self.idle_since, sample.idle, sample.at);
        self.window.push_back((sample.at, verdict == Verdict::Calm));
        while let Some(&(at, _)) = self.window.front() {
            if sample.at.saturating_sub(at) < s.cool_down {
                break;
            }
            self.window.pop_front();
        }

        let from = self.weight;
        let (to, reason) = if from > ceiling || from < floor {
            (from.clamp(floor, ceiling), Reason::Clamped)
        } else {
            match verdict {
                Verdict::WrongSignal => (from, Reason::WrongSignal),
                Verdict::OwnMiss => (from, Reason::OwnMiss),
                Verdict::InBand => (from, Reason::InBand),
                Verdict::NeighbourMiss if from >= ceiling => (from, Reason::AtCeiling),
                Verdict::NeighbourMiss => (self.raised(from, ceiling), Reason::NeighbourMiss),
                Verdict::Calm | Verdict::Idle if from <= floor => (from, Reason::AtFloor),
                Verdict::Calm | Verdict::Idle => self.lowered(&sample, floor),
            }
        };
        self.weight = to;
        if to < from {
            self.lowered_at = Some(sample.at);
        }
        let target = s.target;
        self.back_off(from, to);
        if reason == Reason::AtFloor {
            // Calm at the floor: whatever the probes were for is over.
            self.end_probing();
        }
        Decision {
            sample,
            target,
            from,
            to,
            floor,
            ceiling,
            reason,
        }
    }

    /// The back-off, the weight before the probe and the last change, forgotten:
    /// a raise after this starts a new episode.
    fn end_probing(&mut self) {
        self.backoff = 1;
        self.probed_from = None;
        self.last_change = Change::Held;
    }

    /// Doubles the back-off when a raise undoes a lowering, and remembers the
    /// weight a run of lowerings started from.
    fn back_off(&mut self, from: Weight, to: Weight) {
        let change = Change::between(from, to);
        if change == Change::Raised && self.last_change == Change::Lowered {
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
        match change {
            Change::Lowered if self.last_change != Change::Lowered => self.probed_from = Some(from),
            Change::Raised => self.probed_from = None,
            _ => {}
        }
        if change != Change::Held {
            self.last_change = change;
        }
    }

    /// The weight after a miss behind other pods at `from`: raised by
    /// `raisePercent`, and at least back to the weight held before the probe
    /// that led here. Lowerings step once a second while readings stay calm,
    /// and a reading shows the weight of the second before, so a probe under
    /// noise that its boost held off went 4096, 3072, 2048, 1024 before its
    /// first miss; doubled from the bottom, it stopped at 2048, where the wait
    /// read in the band and was held there for the rest of the noise, at twice
    /// the permanent boost's request p99 (guest run 6 of
    /// `evaluation/journal/auto.md`). The weight before the probe is the last
    /// one known to hold the noise off.
    fn raised(&self, from: Weight, ceiling: Weight) -> Weight {
        let up = raised(from, self.settings.raise_percent, ceiling);
        match self.probed_from {
            Some(before) if self.last_change == Change::Lowered => up.max(before).min(ceiling),
            _ => up,
        }
    }

    /// Calm or idle above the floor: lower once the cool-down is over (idle for
    /// it: to the floor; no miss behind other pods for the cool-down, times the
    /// back-off, and while the wait is mostly behind other pods none since the
    /// last lowering either: a step).
    fn lowered(&self, sample: &Sample, floor: Weight) -> (Weight, Reason) {
        let now = sample.at;
        let lasted =
            |since: Option<Duration>| since.map_or(Duration::ZERO, |s| now.saturating_sub(s));
        if lasted(self.idle_since) >= self.settings.cool_down {
            return (floor, Reason::Idle);
        }
        let cool_down = self.settings.cool_down * self.backoff;
        // Calm with the wait mostly behind other pods: the boost may be what
        // holds them off, so this lowering is a probe.
        let probing = sample.mostly_behind_others();
        let calm = match self.lowered_at {
            Some(at) if probing => lasted(self.no_miss_since).min(now.saturating_sub(at)),
            _ => lasted(self.no_miss_since),
        };
        if calm < cool_down {
            return (
                self.weight,
                Reason::CoolingDown {
                    remaining: cool_down - calm,
                },
            );
        }
        let calm_share = self.window.iter().filter(|(_, calm)| *calm).count() as f64
            / self.window.len().max(1) as f64;
        if calm_share < CALM_SHARE {
            return (
                self.weight,
                Reason::Unsettled {
                    calm_percent: (calm_share * 100.0).round() as u32,
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

/// The share of a pod's wait to put on other pods' account, from the share the
/// scheduler put behind other cgroups (`behind_others`, `None`: not attributed)
/// and how much CPU the node's other pods used in the interval (percent of one
/// CPU; `None`: not known, e.g. a pod outside a kubepods tree). Other pods that
/// used less than `idle_percent` between them cannot be what the pod waited
/// behind: the wait was behind the node's own processes, which a boost of the
/// pod does not take from on their account, so none of it is theirs.
pub fn behind_other_pods(
    behind_others: Option<f64>,
    other_pods_percent: Option<f64>,
    idle_percent: f64,
) -> Option<f64> {
    match other_pods_percent {
        Some(p) if p < idle_percent => Some(0.0),
        _ => behind_others,
    }
}

pub(super) fn verdict(settings: &AutoSettings, sample: &Sample) -> Verdict {
    if sample.idle {
        return Verdict::Idle;
    }
    let Some(ratio) = sample.signal.ratio_to(settings.target) else {
        return Verdict::WrongSignal;
    };
    let share = sample.neighbour_fraction.unwrap_or(1.0);
    let behind_others = sample.mostly_behind_others();
    match (ratio > 1.0, behind_others) {
        (true, true) => Verdict::NeighbourMiss,
        // None of the wait behind other pods (none of them ran, or the wait was
        // all the pod's own): the boost holds nothing off, so it counts as calm.
        // In the guest the server alone after the noise missed for seconds behind
        // its clients, which held the boost where it was (guest_wait5ms.trace).
        (true, false) if share == 0.0 => Verdict::Calm,
        (true, false) => Verdict::OwnMiss,
        // Met, and mostly not behind other pods: the boost is not what keeps it met.
        (false, false) => Verdict::Calm,
        (false, true) if ratio * 100.0 < f64::from(settings.lower_below_percent) => Verdict::Calm,
        (false, true) => Verdict::InBand,
    }
}
