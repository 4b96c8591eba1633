//! Why the kernel ejected the scheduler (from the exit kind it records), and how long
//! to wait before loading it again: at once when the kernel or the scheduler asks for a
//! restart, otherwise after a delay that doubles with each ejection that follows a short
//! run, so a scheduler that keeps failing does not flap the node between sched_ext and
//! the fair class many times a second.

use std::fmt;
use std::time::Duration;

use scx_utils::ScxExitKind;

/// What kind of ejection it was, as the operator needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The scheduler misbehaved: a BPF error (`scx_bpf_error`) or one the kernel found
    /// (an invalid dispatch, a bad CPU, ...). A bug to report, with the dump.
    Error,
    /// The watchdog: a runnable task waited longer than the timeout.
    Stall,
    /// The operator disabled sched_ext (sysrq-S).
    User,
    /// The scheduler or the kernel unregistered it without an error (e.g. CPU
    /// hotplug on kernels that cannot keep a scheduler across it).
    Unregistered,
}

impl Class {
    /// Classifies `scx_exit_kind`; an unknown kind at or above `SCX_EXIT_ERROR` is an
    /// error (the kernel numbers every error kind from there).
    pub fn of(kind: i32) -> Class {
        match kind {
            k if k == ScxExitKind::SysRq as i32 => Class::User,
            k if k == ScxExitKind::ErrorStall as i32 => Class::Stall,
            k if k >= ScxExitKind::Error as i32 => Class::Error,
            _ => Class::Unregistered,
        }
    }

    /// One clause for the log: what happened and what to do about it.
    pub fn explain(self) -> &'static str {
        match self {
            Class::Error => {
                "the scheduler hit an error; please report it with the dump printed above"
            }
            Class::Stall => {
                "the watchdog found a task runnable for too long; please report it with the dump printed above"
            }
            Class::User => {
                "sched_ext was disabled by the operator (sysrq-S); to keep mus off, stop the service (systemctl stop mus-runner)"
            }
            Class::Unregistered => "the scheduler was unregistered without an error",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Error => "error",
            Class::Stall => "stall",
            Class::User => "user",
            Class::Unregistered => "unregistered",
        })
    }
}

/// The restart delay: `FIRST` after an ejection, doubled for each further ejection
/// that comes within `HEALTHY` of the last attach, at most `MAX`.
#[derive(Debug, Default)]
pub struct Backoff {
    /// Ejections since the scheduler last ran for `HEALTHY`.
    streak: u32,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(60);
    /// A run this long counts as healthy: the next ejection starts over at `FIRST`.
    pub const HEALTHY: Duration = Duration::from_secs(60);

    /// The delay before the next load, after an ejection that ended a run of `ran`.
    /// A restart the kernel or the scheduler asked for is immediate and does not count.
    pub fn next(&mut self, ran: Duration, restart_requested: bool) -> Duration {
        if restart_requested {
            return Duration::ZERO;
        }
        if ran >= Self::HEALTHY {
            self.streak = 0;
        }
        let delay = Self::FIRST
            .saturating_mul(1u32 << self.streak.min(16))
            .min(Self::MAX);
        self.streak = self.streak.saturating_add(1);
        delay
    }

    /// How many ejections in a row came after short runs (the current one included).
    pub fn streak(&self) -> u32 {
        self.streak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_kinds_are_classified() {
        assert_eq!(Class::of(ScxExitKind::SysRq as i32), Class::User);
        assert_eq!(Class::of(ScxExitKind::ErrorStall as i32), Class::Stall);
        assert_eq!(Class::of(ScxExitKind::Error as i32), Class::Error);
        assert_eq!(Class::of(ScxExitKind::ErrorBPF as i32), Class::Error);
        assert_eq!(Class::of(ScxExitKind::Unreg as i32), Class::Unregistered);
        assert_eq!(
            Class::of(ScxExitKind::UnregKern as i32),
            Class::Unregistered
        );
        assert_eq!(Class::of(ScxExitKind::UnregBPF as i32), Class::Unregistered);
        assert_eq!(Class::of(1100), Class::Error, "a future error kind");
        assert!(Class::User.explain().contains("systemctl stop"));
    }

    #[test]
    fn repeated_ejections_back_off_exponentially_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let short = Duration::from_secs(2);
        let delays: Vec<u64> = (0..8)
            .map(|_| backoff.next(short, false).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.streak(), 8);
    }

    #[test]
    fn a_healthy_run_resets_the_backoff() {
        let mut backoff = Backoff::default();
        for _ in 0..4 {
            backoff.next(Duration::from_secs(1), false);
        }
        assert_eq!(backoff.next(Backoff::HEALTHY, false), Backoff::FIRST);
        assert_eq!(backoff.next(Duration::ZERO, false), 2 * Backoff::FIRST);
    }

    #[test]
    fn a_requested_restart_is_immediate_and_not_counted() {
        let mut backoff = Backoff::default();
        backoff.next(Duration::ZERO, false);
        assert_eq!(backoff.next(Duration::ZERO, true), Duration::ZERO);
        assert_eq!(backoff.streak(), 1);
    }
}
