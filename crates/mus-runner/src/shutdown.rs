//! The operator's stop (SIGINT, SIGTERM) as a flag to test and a descriptor to sleep
//! on. The runner sleeps in poll(2) on it, and while a scheduler runs on that
//! scheduler's exit notices too, so it wakes only when something happened: no timer of
//! its own fires beside the workloads mus schedules, and a stop or an ejection is
//! acted on at once rather than at the next look.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

pub struct Shutdown {
    requested: Arc<AtomicBool>,
    /// Readable once a stop signal came: the handler writes a byte to its other end.
    wake: UnixStream,
    /// The write end; each signal's handler owns a copy of it for good.
    signal_end: UnixStream,
}

impl Shutdown {
    /// A stop no signal sets yet; see [`Shutdown::on`].
    pub fn new() -> io::Result<Self> {
        let (wake, signal_end) = UnixStream::pair()?;
        // A handler must never block, and a drain must stop when the pipe is empty.
        wake.set_nonblocking(true)?;
        signal_end.set_nonblocking(true)?;
        Ok(Shutdown {
            requested: Arc::new(AtomicBool::new(false)),
            wake,
            signal_end,
        })
    }

    /// A stop that each of `signals` requests.
    pub fn on(signals: &[i32]) -> io::Result<Self> {
        let shutdown = Self::new()?;
        for &signal in signals {
            // The flag first: handlers run in the order registered, so a woken sleeper
            // finds it set.
            signal_hook::flag::register(signal, Arc::clone(&shutdown.requested))?;
            signal_hook::low_level::pipe::register(signal, shutdown.signal_end.try_clone()?)?;
        }
        Ok(shutdown)
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Sleeps until a stop is requested, `also` (if any) is readable, or `timeout` (if
    /// any) passes, whichever is first; may return early on another signal. True if a
    /// stop was requested.
    pub fn wait(
        &self,
        also: Option<BorrowedFd<'_>>,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        if self.requested() {
            return Ok(true);
        }
        let mut fds = vec![PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = also {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        // Rounded up to whole milliseconds, so that a sleep never ends short of its
        // deadline and spins; beyond poll's range (24 days) it is a sleep without end.
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => {
                PollTimeout::try_from(t.as_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        self.drain();
        Ok(self.requested())
    }

    /// Sleeps for `delay` unless a stop is requested first; true if it was.
    pub fn sleep(&self, delay: Duration) -> io::Result<bool> {
        let until = Instant::now() + delay;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if self.wait(None, Some(left))? {
                return Ok(true);
            }
            if left.is_zero() {
                return Ok(false);
            }
        }
    }

    /// Empties the wake-up pipe, so that the next wait sleeps again.
    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::thread;

    use signal_hook::consts::SIGUSR1;

    use super::*;

    #[test]
    fn a_stop_signal_ends_a_long_sleep_at_once_and_stays_requested() {
        let shutdown = Shutdown::on(&[SIGUSR1]).unwrap();
        assert!(!shutdown.requested());
        let raiser = thread::spawn(|| {
            thread::sleep(Duration::from_millis(50));
            signal_hook::low_level::raise(SIGUSR1).unwrap();
        });
        let started = Instant::now();
        assert!(shutdown.sleep(Duration::from_secs(600)).unwrap());
        raiser.join().unwrap();
        // Not a benchmark: only that the signal, not the ten-minute delay, ended it.
        assert!(started.elapsed() < Duration::from_secs(60));
        assert!(shutdown.requested());
        assert!(
            shutdown.wait(None, None).unwrap(),
            "a requested stop must not sleep"
        );
    }

    #[test]
    fn a_sleep_without_a_stop_lasts_its_delay() {
        let shutdown = Shutdown::new().unwrap();
        let started = Instant::now();
        assert!(!shutdown.sleep(Duration::from_millis(30)).unwrap());
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_readable_descriptor_ends_a_wait_without_requesting_a_stop() {
        let shutdown = Shutdown::new().unwrap();
        let (notices, mut kernel) = UnixStream::pair().unwrap();
        kernel.write_all(b"x").unwrap();
        assert!(!shutdown.wait(Some(notices.as_fd()), None).unwrap());
    }
}
