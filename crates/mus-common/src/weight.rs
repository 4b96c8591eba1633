//! Scheduling weights: what a map entry may hold.

use std::fmt;
use std::str::FromStr;

use mus_bpf::intf;

/// A weight the scheduler honours as given: 1 to [`Weight::MAX`], where
/// [`Weight::NORMAL`] is an ordinary cgroup. A cgroup at weight W gets W/1024 times
/// the CPU share of a normal one under contention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u32);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WeightError {
    #[error(
        "weight {0} is out of range: use 1 to {max} (1024 is an ordinary cgroup, {high} the default boost)",
        max = Weight::MAX.0,
        high = Weight::HIGH_DEFAULT.0
    )]
    /// Signed, so that a negative weight is reported as out of range too.
    OutOfRange(i128),
    #[error("weight {0:?} is not a whole number: use 1 to {max}", max = Weight::MAX.0)]
    NotANumber(String),
}

impl Weight {
    pub const NORMAL: Weight = Weight(intf::mus_consts_MUS_WEIGHT_NORMAL);
    pub const HIGH_DEFAULT: Weight = Weight(intf::mus_consts_MUS_WEIGHT_HIGH_DEFAULT);
    pub const MAX: Weight = Weight(intf::mus_consts_MUS_WEIGHT_MAX);

    pub fn new(value: u64) -> Result<Weight, WeightError> {
        match u32::try_from(value) {
            Ok(w) if (1..=Self::MAX.0).contains(&w) => Ok(Weight(w)),
            _ => Err(WeightError::OutOfRange(value.into())),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Weight {
    fn default() -> Self {
        Weight::HIGH_DEFAULT
    }
}

impl FromStr for Weight {
    type Err = WeightError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value = s
            .trim()
            .parse::<i128>()
            .map_err(|_| WeightError::NotANumber(s.to_string()))?;
        u64::try_from(value)
            .map_err(|_| WeightError::OutOfRange(value))
            .and_then(Weight::new)
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_range() {
        assert_eq!(Weight::new(1).map(Weight::get), Ok(1));
        assert_eq!("4096".parse::<Weight>(), Ok(Weight::HIGH_DEFAULT));
        assert_eq!(Weight::new(65536), Ok(Weight::MAX));
    }

    #[test]
    fn rejects_zero_too_large_and_garbage() {
        assert_eq!(Weight::new(0), Err(WeightError::OutOfRange(0)));
        assert_eq!(Weight::new(65537), Err(WeightError::OutOfRange(65537)));
        assert_eq!(Weight::new(1 << 40), Err(WeightError::OutOfRange(1 << 40)));
        assert_eq!("-5".parse::<Weight>(), Err(WeightError::OutOfRange(-5)));
        assert!(matches!(
            "high".parse::<Weight>(),
            Err(WeightError::NotANumber(_))
        ));
        let msg = Weight::new(0).unwrap_err().to_string();
        assert!(msg.contains("use 1 to 65536"), "{msg}");
    }
}
