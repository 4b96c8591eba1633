//! The agent's kube client: kube's own stack, with a pause before a WATCH that
//! follows one that ended early ([`super::watch_backoff`]) and a deadline on every other
//! request ([`super::deadline`]).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use hyper::Request;
use kube::client::Body;
use tower::buffer::BufferLayer;
use tower::filter::AsyncFilterLayer;

use crate::kube::deadline::{DeadlineLayer, is_watch};
use crate::kube::watch_backoff::{WatchBackoff, watch_key};

/// Requests waiting for the client's service; kube's own buffer has 1024.
const BUFFER: usize = 1024;

/// A kube client for `config` whose WATCH requests pause after a watch that ended
/// early, and whose other requests fail when not answered within `deadline`
/// ([`crate::kube::deadline::DEFAULT`] outside tests).
pub fn client(config: kube::Config, deadline: Duration) -> Result<kube::Client, kube::Error> {
    let backoff = WatchBackoff::default();
    let pause = move |req: Request<Body>| {
        let delay = if is_watch(req.uri()) {
            backoff.delay(&watch_key(req.uri()), Instant::now())
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
    // The deadline wraps kube's stack only, so that it does not count the pause. The
    // filter holds a request while it waits, so it needs a service it can clone:
    // the buffer gives it one.
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&DeadlineLayer { limit: deadline })
        .with_layer(&BufferLayer::new(BUFFER))
        .with_layer(&AsyncFilterLayer::new(pause))
        .build())
}
