//! When a boost ends: `duration` after its object's creation, or at `until`. The
//! API server's schema admits only durations of this shape (the CRD's pattern), but
//! an object written before a schema change, or by a client that skipped
//! validation, is parsed here again and refused with a sentence.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// `30m`, `2h`, `1h30m`, `90s`: whole hours, then minutes, then seconds, each at
/// most once ([`super::resource::DURATION_PATTERN`]).
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let mut rest = text;
    let mut total: i64 = 0;
    let mut units = ['h', 'm', 's'].as_slice();
    if text.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let at = units.iter().position(|&u| u == unit)?;
        let seconds = match unit {
            'h' => 3600,
            'm' => 60,
            _ => 1,
        };
        total += n * seconds;
        units = &units[at + 1..];
        rest = &rest[digits + 1..];
    }
    Some(SignedDuration::from_secs(total))
}

/// `created + duration`, or `None` past the end of representable time.
pub fn after(created: Timestamp, duration: SignedDuration) -> Option<Timestamp> {
    created.checked_add(duration).ok()
}

/// How long until `at`, from `now` (zero if it is past): what the daemon sleeps.
pub fn until(now: Timestamp, at: Timestamp) -> std::time::Duration {
    std::time::Duration::try_from(at.duration_since(now)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_kubectl_users_write_them() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(secs("30m"), Some(1800));
        assert_eq!(secs("2h"), Some(7200));
        assert_eq!(secs("1h30m"), Some(5400));
        assert_eq!(secs("90s"), Some(90));
        assert_eq!(secs("1h2m3s"), Some(3723));
        assert_eq!(secs("0s"), Some(0));
        for bad in [
            "", "30", "m", "1d", "30m1h", "1h1h", "-5m", "1.5h", "1234567s", "5 m",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_end_is_creation_plus_duration() {
        let created: Timestamp = "2026-12-04T10:00:00Z".parse().expect("time");
        let end = after(created, parse_duration("1h30m").expect("duration")).expect("end");
        assert_eq!(end.to_string(), "2026-12-04T11:30:00Z");
        assert_eq!(until(created, end).as_secs(), 5400);
        assert_eq!(until(end, created), std::time::Duration::ZERO);
    }
}
