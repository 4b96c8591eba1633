//! A pause before a WATCH request when the previous one ended early.
//!
//! kube's watcher backs off after an error ([`super::relist_backoff`]), but a watch
//! stream that simply ends (an API server shedding load, a proxy's idle timeout) is
//! restarted at once and yields nothing to the stream, so no stream combinator can
//! see it: against a server that ends every watch at once, the TUI and the daemon
//! would re-watch in a tight loop. The pause therefore sits in the client, where
//! the requests are made, using kube's own watcher backoff (0.8 s doubling to 30 s,
//! with jitter). Each watch (resource and selectors) has its own record: the
//! daemon's watches of pods, its Node and namespaces start and restart together,
//! and one of them starting just after another is not a watch that ended early.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Uri;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::DefaultBackoff;

/// A watch that lasted at least this long did not end "at once": the next one
/// starts without a pause. The API server closes a watch after its timeout
/// (minutes); a proxy or a test server may close them after a few seconds, which
/// is a request every few seconds, not a loop.
const NORMAL_WATCH: Duration = Duration::from_secs(1);

struct State {
    /// When the last WATCH request was let through.
    last_start: Option<Instant>,
    backoff: DefaultBackoff,
}

/// The client's record of its WATCH requests, by [`watch_key`]; clones share it.
#[derive(Clone, Default)]
pub struct WatchBackoff(Arc<Mutex<HashMap<String, State>>>);

impl WatchBackoff {
    /// How long to hold a WATCH request for `watch` made at `now`: nothing after a
    /// watch that lasted, the next backoff step after one that ended early.
    pub fn delay(&self, watch: &str, now: Instant) -> Duration {
        let Ok(mut all) = self.0.lock() else {
            return Duration::ZERO;
        };
        let state = all.entry(watch.to_string()).or_insert_with(|| State {
            last_start: None,
            backoff: DefaultBackoff::default(),
        });
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

/// Which watch a request renews: the resource's path and the request's selectors
/// (not its resourceVersion, which moves on with every renewal).
pub fn watch_key(uri: &Uri) -> String {
    let selectors = uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| p.starts_with("fieldSelector=") || p.starts_with("labelSelector="));
    std::iter::once(uri.path())
        .chain(selectors)
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_that_end_early_wait_longer_each_time_and_a_long_one_resets() {
        let b = WatchBackoff::default();
        let pods = "/api/v1/pods&fieldSelector=spec.nodeName%3Dn";
        let t0 = Instant::now();
        assert_eq!(
            b.delay(pods, t0),
            Duration::ZERO,
            "the first watch starts at once"
        );
        let first = b.delay(pods, t0 + Duration::from_millis(10));
        assert!(first >= Duration::from_millis(400), "{first:?}");
        let second = b.delay(pods, t0 + first + Duration::from_millis(20));
        assert!(second > first, "{first:?} then {second:?}");
        let later = t0 + first + second + Duration::from_secs(60);
        assert_eq!(
            b.delay(pods, later),
            Duration::ZERO,
            "a watch that lasted resets"
        );
        let again = b.delay(pods, later + Duration::from_millis(10));
        assert!(again < second, "{again:?} after a reset, {second:?} before");
    }

    #[test]
    fn watches_of_other_resources_started_together_do_not_wait() {
        let b = WatchBackoff::default();
        let t0 = Instant::now();
        let key = |uri: &str| watch_key(&uri.parse().expect("uri"));
        let pods =
            key("/api/v1/pods?&watch=true&fieldSelector=spec.nodeName%3Dn&resourceVersion=100");
        let node =
            key("/api/v1/nodes?&watch=true&fieldSelector=metadata.name%3Dn&resourceVersion=7");
        let namespaces = key("/api/v1/namespaces?&watch=true&resourceVersion=9");
        for (i, watch) in [&pods, &node, &namespaces].into_iter().enumerate() {
            let at = t0 + Duration::from_millis(10 * i as u64);
            assert_eq!(b.delay(watch, at), Duration::ZERO, "{watch}");
        }
        // The same watch renewed with a newer resourceVersion is the same watch.
        let renewed =
            key("/api/v1/pods?&watch=true&fieldSelector=spec.nodeName%3Dn&resourceVersion=101");
        assert_eq!(renewed, pods);
        assert!(b.delay(&renewed, t0 + Duration::from_millis(50)) > Duration::ZERO);
    }
}
