//! The laws the experiment compares: the shipped [`Controller`] under its defaults,
//! as bang-bang (a jump to the ceiling, a drop to the floor) and raising only on a
//! confirmed miss; a fixed additive step; a PI controller on the log of the
//! weight; and the two fixed weights an operator has without auto (no boost, a
//! permanent boost at `maxWeight`).

use std::time::Duration;

use crate::auto::law::{self, Controller, Sample, Verdict};
use crate::auto::spec::{AutoSettings, AutoSpec};
use mus_common::Weight;

/// A law as the experiment drives it: a sample in, the weight for the next interval out.
pub trait Law {
    /// The weight held before the first sample.
    fn initial(&self) -> u32 {
        Weight::NORMAL.get()
    }
    fn next(&mut self, sample: Sample) -> u32;
}

/// The defaults (a 1 ms wait p99 target, from 1024, 30 s cool-down) up to `max_weight`.
pub fn settings(max_weight: u32) -> AutoSettings {
    AutoSpec {
        max_weight,
        ..AutoSpec::default()
    }
    .validate()
    .expect("the defaults are valid")
}

pub struct Fixed(pub u32);

impl Law for Fixed {
    fn initial(&self) -> u32 {
        self.0
    }
    fn next(&mut self, _: Sample) -> u32 {
        self.0
    }
}

/// The shipped law with `raise_percent` and `lower_step`.
pub struct Shipped(Controller);

impl Shipped {
    pub fn new(settings: AutoSettings, raise_percent: u32, lower_step: u32) -> Shipped {
        Shipped(Controller::new(AutoSettings {
            raise_percent,
            lower_step,
            ..settings
        }))
    }
}

impl Law for Shipped {
    fn next(&mut self, sample: Sample) -> u32 {
        self.0.step(sample, Weight::MAX).to.get()
    }
}

/// Up and down by the same `step` per interval, with the shipped law's gating,
/// band and cool-down: only the size of a move differs.
pub struct Step {
    settings: AutoSettings,
    step: u32,
    weight: u32,
    calm_since: Option<Duration>,
}

impl Step {
    pub fn new(settings: AutoSettings, step: u32) -> Step {
        Step {
            settings,
            step,
            weight: Weight::NORMAL.get(),
            calm_since: None,
        }
    }
}

impl Law for Step {
    fn next(&mut self, sample: Sample) -> u32 {
        let (min, max) = (
            self.settings.min_weight.get(),
            self.settings.max_weight.get(),
        );
        match law::verdict(&self.settings, &sample) {
            Verdict::NeighbourMiss => {
                self.calm_since = None;
                self.weight = (self.weight + self.step).min(max);
            }
            Verdict::Calm | Verdict::Idle => {
                let since = *self.calm_since.get_or_insert(sample.at);
                if sample.at - since >= self.settings.cool_down {
                    self.weight = self.weight.saturating_sub(self.step).max(min);
                }
            }
            _ => self.calm_since = None,
        }
        self.weight
    }
}

/// A PI controller on `log2(weight / 1024)`, towards a signal at `setpoint` of the
/// target (the middle of the shipped law's band), in velocity form so that the
/// clamp cannot wind it up. A miss not mostly behind other pods counts as on
/// target (the shipped law's gating); the weight is rounded to 64 so that noise
/// smaller than that does not move it.
pub struct Pi {
    settings: AutoSettings,
    kp: f64,
    ki: f64,
    setpoint: f64,
    log_weight: f64,
    last_error: f64,
}

impl Pi {
    pub fn new(settings: AutoSettings, kp: f64, ki: f64) -> Pi {
        Pi {
            settings,
            kp,
            ki,
            setpoint: 0.75,
            log_weight: 0.0,
            last_error: 0.0,
        }
    }
}

impl Law for Pi {
    fn next(&mut self, sample: Sample) -> u32 {
        let ratio = sample
            .signal
            .ratio_to(self.settings.target)
            .unwrap_or(self.setpoint);
        let error = match law::verdict(&self.settings, &sample) {
            Verdict::OwnMiss | Verdict::WrongSignal => 0.0,
            _ => (ratio / self.setpoint).ln(),
        };
        let top = f64::from(self.settings.max_weight.get() / Weight::NORMAL.get()).log2();
        self.log_weight = (self.log_weight + self.ki * error + self.kp * (error - self.last_error))
            .clamp(0.0, top);
        self.last_error = error;
        let weight = f64::from(Weight::NORMAL.get()) * self.log_weight.exp2();
        ((weight / 64.0).round() * 64.0) as u32
    }
}

/// The shipped law, raising only on the `confirm`-th miss mostly behind other pods
/// in a row: the earlier ones reach it as a signal exactly on target (in the
/// band: held).
pub struct Confirmed {
    law: Shipped,
    settings: AutoSettings,
    confirm: u32,
    misses: u32,
}

impl Confirmed {
    pub fn new(settings: AutoSettings, confirm: u32) -> Confirmed {
        Confirmed {
            law: Shipped::new(
                settings.clone(),
                settings.raise_percent,
                settings.lower_step,
            ),
            settings,
            confirm,
            misses: 0,
        }
    }
}

impl Law for Confirmed {
    fn next(&mut self, mut sample: Sample) -> u32 {
        if law::verdict(&self.settings, &sample) == Verdict::NeighbourMiss {
            self.misses += 1;
            if self.misses < self.confirm {
                sample.signal = self.settings.target;
            }
        } else {
            self.misses = 0;
        }
        self.law.next(sample)
    }
}
