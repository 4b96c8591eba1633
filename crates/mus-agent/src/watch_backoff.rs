//! A pause before a WATCH request when the previous one ended early.
//!
//! kube's watcher backs off after an error (`default_backoff()`), but a watch
//! stream that simply ends (an API server shedding load, a proxy's idle timeout) is
//! restarted at once and yields nothing to the stream, so no stream combinator can
//! see it: against a server that ends every watch at once, the TUI and the daemon
//! would re-watch in a tight loop. The pause therefore sits in the client, where
//! the requests are made, using kube's own watcher backoff (0.8 s doubling to 30 s,
//! with jitter).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Request;
use kube::client::Body;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::DefaultBackoff;
use tower::buffer::BufferLayer;
use tower::filter::AsyncFilterLayer;

/// A watch that lasted at least this long did not end "at once": the next one
/// starts without a pause. The API server closes a watch after its timeout
/// (minutes); a proxy or a test server may close them after a few seconds, which
/// is a request every few seconds, not a loop.
const NORMAL_WATCH: Duration = Duration::from_secs(1);

/// Requests waiting for the client's service; kube's own buffer has 1024.
const BUFFER: usize = 1024;

struct State {
    /// When the last WATCH request was let through.
    last_start: Option<Instant>,
    backoff: DefaultBackoff,
}

/// The client's record of its WATCH requests; clones share it.
#[derive(Clone)]
pub struct WatchBackoff(Arc<Mutex<State>>);

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff(Arc::new(Mutex::new(State {
            last_start: None,
            backoff: DefaultBackoff::default(),
        })))
    }
}

impl WatchBackoff {
    /// How long to hold a WATCH request made at `now`: nothing after a watch that
    /// lasted, the next backoff step after one that ended early.
    pub fn delay(&self, now: Instant) -> Duration {
        let Ok(mut state) = self.0.lock() else {
            return Duration::ZERO;
        };
        let delay = match state.last_start {
            Some(last) if now.saturating_duration_since(last) < NORMAL_WATCH => {
                state.backoff.next().unwrap_or(NORMAL_WATCH)
            }
            _ => {
                state.backoff.reset();
                Duration::ZERO
            }
        };
        state.last_start = Some(now + delay);
        delay
    }
}

/// A kube client for `config` whose WATCH requests pause after a watch that ended
/// early.
pub fn client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    let backoff = WatchBackoff::default();
    let pause = move |req: Request<Body>| {
        let watch = req.uri().query().is_some_and(|q| q.contains("watch=true"));
        let delay = if watch {
            backoff.delay(Instant::now())
        } else {
            Duration::ZERO
        };
        async move {
            if !delay.is_zero() {
                tracing::debug!("the last watch ended early; waiting {delay:?} before the next");
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(req)
        }
    };
    // The filter holds a request while it waits, so it needs a service it can clone:
    // the buffer gives it one.
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&BufferLayer::new(BUFFER))
        .with_layer(&AsyncFilterLayer::new(pause))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_that_end_early_wait_longer_each_time_and_a_long_one_resets() {
        let b = WatchBackoff::default();
        let t0 = Instant::now();
        assert_eq!(
            b.delay(t0),
            Duration::ZERO,
            "the first watch starts at once"
        );
        let first = b.delay(t0 + Duration::from_millis(10));
        assert!(first >= Duration::from_millis(400), "{first:?}");
        let second = b.delay(t0 + first + Duration::from_millis(20));
        assert!(second > first, "{first:?} then {second:?}");
        let later = t0 + first + second + Duration::from_secs(60);
        assert_eq!(b.delay(later), Duration::ZERO, "a watch that lasted resets");
        let again = b.delay(later + Duration::from_millis(10));
        assert!(again < second, "{again:?} after a reset, {second:?} before");
    }
}
