//! The host's half of the host-contended conditions (`*_host` in bench.sh): one busy
//! thread on the host, started and stopped by the guest's `@@MUS host_hog on|off` lines as
//! the console streams in. The TCG vCPU threads then compete with it for the host's
//! cores, as a cloud VM's vCPUs compete with a neighbour (steal time). Driven by the
//! guest's output, host-contended and quiet conditions interleave round by round in one
//! boot, so they are paired like every other condition; a hog running for a whole boot
//! could only be compared across boots.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use mus_testbed::RESULT_MARKER;

/// The busy thread, when it runs.
struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

#[derive(Default)]
pub struct HostHog {
    running: Mutex<Option<Running>>,
    starts: AtomicU32,
}

impl HostHog {
    /// Acts on one console line: `@@MUS host_hog on ...` starts the thread (if it is not
    /// running), `@@MUS host_hog off ...` stops it; other lines are not its business.
    pub fn on_line(&self, line: &str) {
        let Some(rest) = line
            .trim()
            .strip_prefix(RESULT_MARKER)
            .and_then(|l| l.trim_start().strip_prefix("host_hog "))
        else {
            return;
        };
        match rest.split_whitespace().next() {
            Some("on") => self.start(),
            Some("off") => self.stop(),
            _ => {}
        }
    }

    fn start(&self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.is_some() {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // integer work, not a pause loop: the host core is as busy as a real process
            let mut x = 1u64;
            while !flag.load(Ordering::Relaxed) {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005) ^ 1);
                }
            }
        });
        *running = Some(Running { stop, thread });
        self.starts.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops the thread if it runs (also when the guest died before saying "off").
    pub fn stop(&self) {
        let taken = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(r) = taken {
            r.stop.store(true, Ordering::Relaxed);
            let _ = r.thread.join();
        }
    }

    #[cfg(test)]
    fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// How many times the guest started it.
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::Relaxed)
    }
}

impl Drop for HostHog {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guests_lines_start_and_stop_the_busy_thread() {
        let hog = HostHog::default();
        hog.on_line("@@MUS lat_done latency stock_idle 1 overflows=0 max=5\n");
        hog.on_line("some tool printed host_hog on\n");
        assert!(!hog.is_running());
        hog.on_line("@@MUS host_hog on mus_boost_host 2\n");
        assert!(hog.is_running());
        // a second "on" does not start a second thread
        hog.on_line("@@MUS host_hog on mus_boost_host 2\n");
        assert_eq!(hog.starts(), 1);
        hog.on_line("@@MUS host_hog off mus_boost_host 2\n");
        assert!(!hog.is_running());
        hog.on_line("@@MUS host_hog on stock_w400_host 3\n");
        assert_eq!(hog.starts(), 2);
        // the guest died mid-condition: the bench stops it
        hog.stop();
        assert!(!hog.is_running());
    }
}
