//! The watch daemon's HTTP endpoint (`--listen`): `/metrics`, `/healthz` (liveness)
//! and `/readyz` (readiness).
//!
//! Anything that can reach the port can talk to it, so every connection is bounded:
//! hyper's HTTP/1 connection with a timer closes a client that has not sent a whole
//! request head within `header_timeout` of connecting or of the previous response
//! (which bounds idle keep-alive connections too); connections are capped in total
//! and per peer address, so one noisy pod cannot crowd out the kubelet's probe or
//! Prometheus; and an `accept()` that fails (EMFILE, ENOBUFS) backs off instead of
//! spinning on a listener that stays readable.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::daemon::metrics::Metrics;

/// What one client may hold of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a request head, from connect or from the previous response.
    pub header_timeout: Duration,
    /// Open connections, all peers together.
    pub max_connections: usize,
    /// Open connections from one peer address. The kubelet probes from the node's
    /// address and Prometheus scrapes from its own, so another pod at its cap does
    /// not take their turn.
    pub max_connections_per_ip: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_connections_per_ip: 16,
        }
    }
}

/// The first pause after a failed `accept()`; doubled up to [`ACCEPT_BACKOFF_MAX`]
/// while it keeps failing. A full file table frees up only as connections close.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Open connections, in total and per peer address.
#[derive(Debug, Default)]
struct Connections {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    connections: Arc<Mutex<Connections>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.connections.lock() {
            c.total -= 1;
            if let Some(n) = c.by_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    c.by_ip.remove(&self.ip);
                }
            }
        }
    }
}

/// A place for a connection from `ip`, or `None` when a cap is reached.
fn admit(connections: &Arc<Mutex<Connections>>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
    let mut c = connections.lock().ok()?;
    let from_ip = c.by_ip.get(&ip).copied().unwrap_or(0);
    if c.total >= limits.max_connections || from_ip >= limits.max_connections_per_ip {
        return None;
    }
    c.total += 1;
    c.by_ip.insert(ip, from_ip + 1);
    Some(Slot {
        connections: Arc::clone(connections),
        ip,
    })
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// A probe's answer: 200 with its sentence, or 503 with the reason.
fn probe(result: Result<String, String>) -> Response<Full<Bytes>> {
    let plain = "text/plain; charset=utf-8";
    match result {
        Ok(msg) => text(StatusCode::OK, plain, msg + "\n"),
        Err(msg) => text(StatusCode::SERVICE_UNAVAILABLE, plain, msg + "\n"),
    }
}

fn respond(metrics: &Metrics, path: &str) -> Response<Full<Bytes>> {
    match path {
        "/metrics" => text(
            StatusCode::OK,
            super::metrics::CONTENT_TYPE,
            metrics.render(),
        ),
        "/healthz" => probe(metrics.liveness(Instant::now())),
        "/readyz" => probe(metrics.readiness(Instant::now())),
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics, /healthz or /readyz\n".to_string(),
        ),
    }
}

/// Serves one connection until the client closes it or a timeout does.
async fn connection(stream: TcpStream, metrics: Arc<Metrics>, limits: Limits, _slot: Slot) {
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let response = respond(&metrics, req.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        debug!("HTTP connection closed: {e}");
    }
}

/// At most one warning a minute for a problem that may repeat per connection.
#[derive(Default)]
struct Throttle(Option<Instant>);

impl Throttle {
    fn ready(&mut self, now: Instant) -> bool {
        let ready = self
            .0
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(60));
        if ready {
            self.0 = Some(now);
        }
        ready
    }
}

/// Accepts connections until the task is aborted.
async fn accept_loop(listener: TcpListener, metrics: Arc<Metrics>, limits: Limits) {
    let connections = Arc::new(Mutex::new(Connections::default()));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let (mut accept_warning, mut cap_warning) = (Throttle::default(), Throttle::default());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // The listener stays readable while the connection waits in the
                // backlog: retrying at once would spin a CPU until an fd frees up.
                if accept_warning.ready(Instant::now()) {
                    warn!("cannot accept HTTP connections ({e}); retrying with backoff");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        backoff = ACCEPT_BACKOFF_MIN;
        let Some(slot) = admit(&connections, peer.ip(), &limits) else {
            // Closed at once: a queue behind a full server would delay the probes.
            if cap_warning.ready(Instant::now()) {
                warn!(peer = %peer, "HTTP connection limit reached; closing new connections until some end");
            }
            drop(stream);
            continue;
        };
        tokio::spawn(connection(stream, Arc::clone(&metrics), limits, slot));
    }
}

/// Binds `addr` and serves until the returned task is aborted. Returns the bound
/// address (port 0 picks one, for tests).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    limits: Limits,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((bound, tokio::spawn(accept_loop(listener, metrics, limits))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_in_total_and_free_on_drop() {
        let limits = Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Limits::default()
        };
        let c = Arc::new(Mutex::new(Connections::default()));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = admit(&c, a, &limits).expect("a1");
        let _a2 = admit(&c, a, &limits).expect("a2");
        assert!(admit(&c, a, &limits).is_none(), "a is at its cap");
        let _b1 = admit(&c, b, &limits).expect("b1");
        assert!(admit(&c, b, &limits).is_none(), "the total is at its cap");
        drop(a1);
        assert!(admit(&c, a, &limits).is_some(), "a's place came back");
    }
}
