//! When a boost ends: `duration` (read by [`crate::duration`]) after its object's
//! creation, or at `until`.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// `created + duration`, or `None` past the end of representable time.
pub fn after(created: Timestamp, duration: std::time::Duration) -> Option<Timestamp> {
    created
        .checked_add(SignedDuration::try_from(duration).ok()?)
        .ok()
}

/// How long until `at`, from `now` (zero if it is past): what the daemon sleeps.
pub fn until(now: Timestamp, at: Timestamp) -> std::time::Duration {
    std::time::Duration::try_from(at.duration_since(now)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_is_creation_plus_duration() {
        let created: Timestamp = "2026-12-04T10:00:00Z".parse().expect("time");
        let end = after(created, std::time::Duration::from_secs(5400)).expect("end");
        assert_eq!(end.to_string(), "2026-12-04T11:30:00Z");
        assert_eq!(until(created, end).as_secs(), 5400);
        assert_eq!(until(end, created), std::time::Duration::ZERO);
    }
}
