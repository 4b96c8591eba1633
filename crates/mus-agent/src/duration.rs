//! Durations as a CPUBoost writes them, in every field (`spec.duration`,
//! `spec.auto.coolDown`, `spec.auto.target.waitP99`): Go's notation, the one
//! `kubectl --timeout` and the rest of Kubernetes use, such as `30m`, `1h30m`, `1.5s`
//! and `500us`. One grammar for the whole object, so an operator never has to learn
//! which field takes which.
//!
//! [`PATTERN`] is the CRD's schema pattern and also the first check [`parse`] makes,
//! so the daemon refuses exactly what the API server would have refused (an object
//! written before a schema change, or by a client that skipped validation, is parsed
//! again here). jiff's parser then reads the value; its friendly format, restricted by
//! the pattern, is Go's: units from the largest down, each at most once, a fraction
//! only on the last.

use std::sync::LazyLock;
use std::time::Duration;

use k8s_openapi::jiff::SignedDuration;
use regex::Regex;

/// One or more numbers, each with a unit (`h`, `m`, `s`, `ms`, `us`, `ns`); up to
/// nine digits on either side of a point, which keeps any match within jiff's range.
pub const PATTERN: &str = r"^([0-9]{1,9}(\.[0-9]{1,9})?(h|m|s|ms|us|ns))+$";

/// [`PATTERN`], compiled once. It is a constant that the tests compile, so the
/// `expect` cannot fire on anything a user writes.
static SHAPE: LazyLock<Regex> = LazyLock::new(|| Regex::new(PATTERN).expect("PATTERN compiles"));

/// `text` as a duration, or `None` if it is not of [`PATTERN`]'s shape or not in Go's
/// order (`30m1h`, `1h1h`, `1.5h30m`).
pub fn parse(text: &str) -> Option<Duration> {
    if !SHAPE.is_match(text) {
        return None;
    }
    let signed: SignedDuration = text.parse().ok()?;
    Duration::try_from(signed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_durations_as_kubectl_users_write_them() {
        let cases = [
            ("30m", Duration::from_secs(1800)),
            ("2h", Duration::from_secs(7200)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h2m3s", Duration::from_secs(3723)),
            ("90s", Duration::from_secs(90)),
            ("0s", Duration::ZERO),
            ("1.5h", Duration::from_secs(5400)),
            ("1.5s", Duration::from_millis(1500)),
            ("1ms", Duration::from_millis(1)),
            ("1.5ms", Duration::from_micros(1500)),
            ("500us", Duration::from_micros(500)),
            ("250ns", Duration::from_nanos(250)),
            ("1s500ms", Duration::from_millis(1500)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Some(want), "{text:?}");
        }
    }

    #[test]
    fn refuses_what_the_schema_refuses_and_what_go_would() {
        for bad in [
            "",
            "30",
            "m",
            "ms",
            "1d",
            "1 ms",
            "5 m",
            "-5m",
            "+5m",
            "1e3us",
            ".5ms",
            "1.ms",
            "NaNs",
            "PT5M",
            "1µs",
            "1H",
            "1234567890s", // the schema's shape
            "30m1h",
            "1h1h",
            "1.5h30m",
            "1ms1s", // Go's order
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
