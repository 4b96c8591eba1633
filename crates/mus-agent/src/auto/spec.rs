//! The auto mode's settings as an operator writes them (`spec.auto` of a boost
//! object, camelCase, with the OpenAPI schema the CRD embeds), and [`AutoSpec::validate`],
//! which turns them into the typed [`AutoSettings`] the control law runs on or
//! refuses them with one sentence naming the field.
//!
//! ```yaml
//! auto:
//!   target: { waitP99: 1ms }   # or { psiSomeAvg10: 5 }
//!   minWeight: 1024            # held when nothing is wrong: no boost
//!   maxWeight: 4096            # 4x, never more (nor above the admin policy's cap)
//!   raisePercent: 100          # each missed interval raises the weight by this much
//!   lowerStep: 1024            # each calm interval after the cool-down lowers it by this
//!   coolDown: 30s              # no miss this long before the first step down
//!   lowerBelowPercent: 50      # calm: the signal below this share of the target
//! ```
//!
//! `writeups/auto.md` explains the law and the experiment that chose these defaults.

use std::fmt;
use std::time::Duration;

use crate::duration;
use mus_common::Weight;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The auto mode of a boost: the weight follows a latency signal between
/// `minWeight` and `maxWeight` (1024 is no boost, 4096 four times a normal share).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoSpec {
    /// What the pod should see: one signal and its bound.
    pub target: TargetSpec,
    /// The weight held while the target is met (1024: no boost).
    #[serde(default = "defaults::min_weight")]
    #[schemars(range(min = 1, max = 65536))]
    pub min_weight: u32,
    /// The most the controller raises the weight to.
    #[serde(default = "defaults::max_weight")]
    #[schemars(range(min = 1, max = 65536))]
    pub max_weight: u32,
    /// How fast it rises: each interval the target is missed because of other pods,
    /// the weight rises by this percentage of itself (100 doubles it).
    #[serde(default = "defaults::raise_percent")]
    #[schemars(range(min = 1, max = 1000))]
    pub raise_percent: u32,
    /// Each calm interval after the cool-down, the weight falls by this much.
    #[serde(default = "defaults::lower_step")]
    #[schemars(range(min = 1, max = 65536))]
    pub lower_step: u32,
    /// How long without a miss behind other pods (or the pod idle) before the first step down.
    #[serde(default = "defaults::cool_down")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub cool_down: String,
    /// Calm: the signal below this percentage of the target. Between it and the
    /// target the weight holds (the hysteresis band).
    #[serde(default = "defaults::lower_below_percent")]
    #[schemars(range(min = 1, max = 99))]
    pub lower_below_percent: u32,
}

/// One signal and its bound: set exactly one field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSpec {
    /// The 99th percentile of the pod's run-queue wait (runnable to running), e.g. `1ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub wait_p99: Option<String>,
    /// The pod cgroup's `cpu.pressure` "some avg10", in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 99))]
    pub psi_some_avg10: Option<u32>,
}

mod defaults {
    use mus_common::Weight;

    pub fn min_weight() -> u32 {
        Weight::NORMAL.get()
    }
    pub fn max_weight() -> u32 {
        Weight::HIGH_DEFAULT.get()
    }
    pub fn raise_percent() -> u32 {
        100
    }
    pub fn lower_step() -> u32 {
        1024
    }
    pub fn cool_down() -> String {
        "30s".to_string()
    }
    pub fn lower_below_percent() -> u32 {
        50
    }
}

/// A latency signal: a reading over an interval, or the bound (the target) a
/// pod's readings should stay under.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Signal {
    /// The 99th percentile of the run-queue wait.
    WaitP99(Duration),
    /// `cpu.pressure` "some avg10", in percent.
    PsiSomeAvg10(f64),
}

impl Signal {
    /// The value alone, in its unit: "2.2ms", "5.0%".
    pub fn amount(self) -> String {
        match self {
            Signal::WaitP99(wait) => format!("{wait:?}"),
            Signal::PsiSomeAvg10(percent) => format!("{percent:.1}%"),
        }
    }

    /// This reading over `target` (above 1 is a miss), or `None` where they are
    /// not the same signal.
    pub fn ratio_to(self, target: Signal) -> Option<f64> {
        match (self, target) {
            (Signal::WaitP99(wait), Signal::WaitP99(target)) => {
                Some(wait.as_secs_f64() / target.as_secs_f64())
            }
            (Signal::PsiSomeAvg10(psi), Signal::PsiSomeAvg10(target)) => Some(psi / target),
            _ => None,
        }
    }
}

/// "wait p99 2.2ms", "PSI some avg10 5.0%".
impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Signal::WaitP99(_) => "wait p99",
            Signal::PsiSomeAvg10(_) => "PSI some avg10",
        };
        write!(f, "{name} {}", self.amount())
    }
}

/// [`AutoSpec`] checked and typed.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoSettings {
    pub target: Signal,
    pub min_weight: Weight,
    pub max_weight: Weight,
    pub raise_percent: u32,
    pub lower_step: u32,
    pub cool_down: Duration,
    pub lower_below_percent: u32,
}

/// Why an [`AutoSpec`] is refused: one sentence naming the field.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum AutoSpecError {
    #[error("target: set exactly one of waitP99 and psiSomeAvg10")]
    TargetNotOne,
    #[error(
        "{field} {value:?} is not a duration: write numbers with units in Go's notation, e.g. 1ms, 500us, 30s or 1m30s"
    )]
    NotADuration { field: &'static str, value: String },
    #[error("{field} {value:?} is out of range: use {min:?} to {max:?}")]
    DurationOutOfRange {
        field: &'static str,
        value: String,
        min: Duration,
        max: Duration,
    },
    #[error("{field} {value} is out of range: use {min} to {max}")]
    OutOfRange {
        field: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    #[error(
        "minWeight {min} is above maxWeight {max}: the lowest weight cannot exceed the highest"
    )]
    MinAboveMax { min: u32, max: u32 },
}

const WAIT_TARGET_RANGE: (Duration, Duration) = (Duration::from_micros(10), Duration::from_secs(1));
const COOL_DOWN_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));

impl AutoSpec {
    /// The settings if every field is in range, else the first bad field's sentence.
    pub fn validate(&self) -> Result<AutoSettings, AutoSpecError> {
        let target = match (&self.target.wait_p99, self.target.psi_some_avg10) {
            (Some(wait), None) => {
                Signal::WaitP99(duration("target.waitP99", wait, WAIT_TARGET_RANGE)?)
            }
            (None, Some(percent)) => {
                Signal::PsiSomeAvg10(f64::from(within("target.psiSomeAvg10", percent, 1, 99)?))
            }
            _ => return Err(AutoSpecError::TargetNotOne),
        };
        let min_weight = weight("minWeight", self.min_weight)?;
        let max_weight = weight("maxWeight", self.max_weight)?;
        if min_weight > max_weight {
            return Err(AutoSpecError::MinAboveMax {
                min: self.min_weight,
                max: self.max_weight,
            });
        }
        Ok(AutoSettings {
            target,
            min_weight,
            max_weight,
            raise_percent: within("raisePercent", self.raise_percent, 1, 1000)?,
            lower_step: within("lowerStep", self.lower_step, 1, Weight::MAX.get())?,
            cool_down: duration("coolDown", &self.cool_down, COOL_DOWN_RANGE)?,
            lower_below_percent: within("lowerBelowPercent", self.lower_below_percent, 1, 99)?,
        })
    }
}

impl Default for AutoSpec {
    /// The defaults with a run-queue wait p99 target of 1 ms.
    fn default() -> Self {
        AutoSpec {
            target: TargetSpec {
                wait_p99: Some("1ms".to_string()),
                psi_some_avg10: None,
            },
            min_weight: defaults::min_weight(),
            max_weight: defaults::max_weight(),
            raise_percent: defaults::raise_percent(),
            lower_step: defaults::lower_step(),
            cool_down: defaults::cool_down(),
            lower_below_percent: defaults::lower_below_percent(),
        }
    }
}

fn within(field: &'static str, value: u32, min: u32, max: u32) -> Result<u32, AutoSpecError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(AutoSpecError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

fn weight(field: &'static str, value: u32) -> Result<Weight, AutoSpecError> {
    Weight::new(value.into()).map_err(|_| AutoSpecError::OutOfRange {
        field,
        value,
        min: 1,
        max: Weight::MAX.get(),
    })
}

fn duration(
    field: &'static str,
    text: &str,
    (min, max): (Duration, Duration),
) -> Result<Duration, AutoSpecError> {
    let parsed = duration::parse(text).ok_or_else(|| AutoSpecError::NotADuration {
        field,
        value: text.to_string(),
    })?;
    if (min..=max).contains(&parsed) {
        Ok(parsed)
    } else {
        Err(AutoSpecError::DurationOutOfRange {
            field,
            value: text.to_string(),
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> AutoSpec {
        serde_saphyr::from_str(yaml).expect("spec parses")
    }

    fn refusal(yaml: &str) -> String {
        spec(yaml).validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_fill_everything_but_the_target() {
        let settings = spec("target: { waitP99: 1ms }").validate().unwrap();
        assert_eq!(settings.target, Signal::WaitP99(Duration::from_millis(1)));
        assert_eq!(settings.min_weight, Weight::NORMAL);
        assert_eq!(settings.max_weight, Weight::HIGH_DEFAULT);
        assert_eq!(settings.cool_down, Duration::from_secs(30));
        assert_eq!(spec("target: { waitP99: 1ms }"), AutoSpec::default());
    }

    #[test]
    fn reads_a_psi_target_and_every_field() {
        let settings = spec(
            "target: { psiSomeAvg10: 5 }\nminWeight: 512\nmaxWeight: 8192\n\
             raisePercent: 50\nlowerStep: 256\ncoolDown: 1.5m\nlowerBelowPercent: 40",
        )
        .validate()
        .unwrap();
        assert_eq!(settings.target, Signal::PsiSomeAvg10(5.0));
        assert_eq!(settings.min_weight.get(), 512);
        assert_eq!(settings.max_weight.get(), 8192);
        assert_eq!(settings.raise_percent, 50);
        assert_eq!(settings.lower_step, 256);
        assert_eq!(settings.cool_down, Duration::from_secs(90));
        assert_eq!(settings.lower_below_percent, 40);
    }

    #[test]
    fn refuses_each_bad_value_with_one_sentence_naming_it() {
        let cases = [
            ("target: {}", "set exactly one of waitP99 and psiSomeAvg10"),
            (
                "target: { waitP99: 1ms, psiSomeAvg10: 5 }",
                "set exactly one",
            ),
            (
                "target: { waitP99: soon }",
                "target.waitP99 \"soon\" is not a duration",
            ),
            (
                "target: { waitP99: 2s }",
                "target.waitP99 \"2s\" is out of range: use 10µs to 1s",
            ),
            (
                "target: { psiSomeAvg10: 100 }",
                "target.psiSomeAvg10 100 is out of range: use 1 to 99",
            ),
            (
                "target: { waitP99: 1ms }\nmaxWeight: 70000",
                "maxWeight 70000 is out of range: use 1 to 65536",
            ),
            (
                "target: { waitP99: 1ms }\nminWeight: 0",
                "minWeight 0 is out of range",
            ),
            (
                "target: { waitP99: 1ms }\nminWeight: 5000",
                "minWeight 5000 is above maxWeight 4096",
            ),
            (
                "target: { waitP99: 1ms }\nraisePercent: 0",
                "raisePercent 0 is out of range: use 1 to 1000",
            ),
            (
                "target: { waitP99: 1ms }\nlowerStep: 0",
                "lowerStep 0 is out of range",
            ),
            (
                "target: { waitP99: 1ms }\ncoolDown: 10ms",
                "coolDown \"10ms\" is out of range: use 1s to 3600s",
            ),
            (
                "target: { waitP99: 1ms }\nlowerBelowPercent: 100",
                "lowerBelowPercent 100 is out of range",
            ),
        ];
        for (yaml, expected) in cases {
            let message = refusal(yaml);
            assert!(message.contains(expected), "{yaml}: {message}");
            assert!(!message.trim_end().contains('\n'), "{yaml}: {message}");
        }
    }

    #[test]
    fn refuses_unknown_fields() {
        let err = serde_saphyr::from_str::<AutoSpec>("target: { waitP99: 1ms }\nmaxFactor: 4")
            .unwrap_err();
        assert!(err.to_string().contains("maxFactor"), "{err}");
    }

    /// The schema as kube's CustomResource derive generates it (OpenAPI 3, every
    /// subschema inlined: a CRD has no `$ref`) bounds what `validate` bounds.
    #[test]
    fn schema_bounds_what_validate_bounds() {
        let schema = schemars::generate::SchemaSettings::openapi3()
            .with(|s| s.inline_subschemas = true)
            .into_generator()
            .into_root_schema_for::<AutoSpec>();
        let schema = serde_json::to_value(schema).unwrap();
        let props = &schema["properties"];
        assert_eq!(props["maxWeight"]["maximum"], 65536);
        assert_eq!(props["minWeight"]["minimum"], 1);
        assert_eq!(props["coolDown"]["pattern"], duration::PATTERN);
        let target = &props["target"]["properties"];
        assert_eq!(target["waitP99"]["pattern"], duration::PATTERN);
        assert_eq!(target["psiSomeAvg10"]["maximum"], 99);
        assert_eq!(schema["required"], serde_json::json!(["target"]));
        assert!(!schema.to_string().contains("$ref"), "{schema}");
    }
}
