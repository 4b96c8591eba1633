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
//!
//! A cap does not refuse the newcomer: it closes the oldest connection of the peer
//! (or, at the total cap, of all), so that nobody can hold the places. The kubelet
//! probes from the node's address, which hostNetwork pods share: were new
//! connections refused, such a pod could keep its address's places with idle
//! keep-alive connections and fail liveness. A probe's connection is new, and gone
//! at once (its answer says `Connection: close`), so it is never the oldest; what a
//! cap closes is a held or idle one, which an HTTP client retries on a new one.

use std::collections::BTreeMap;
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
use tokio::sync::oneshot;
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
    /// not take their turn, and one that shares their address loses its oldest.
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

/// Open connections, in the order they were accepted.
#[derive(Debug, Default)]
struct Connections {
    next: u64,
    open: BTreeMap<u64, Open>,
}

/// One open connection: its peer, and the sender whose drop closes it.
#[derive(Debug)]
struct Open {
    ip: IpAddr,
    _close: oneshot::Sender<()>,
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    connections: Arc<Mutex<Connections>>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.connections.lock() {
            c.open.remove(&self.id);
        }
    }
}

/// A place for a connection from `ip`, with what closes it when a later one needs
/// the place, and whether an older one was closed for it.
fn admit(
    connections: &Arc<Mutex<Connections>>,
    ip: IpAddr,
    limits: &Limits,
) -> Option<(Slot, oneshot::Receiver<()>, bool)> {
    let mut c = connections.lock().ok()?;
    let from_ip = c.open.values().filter(|o| o.ip == ip).count();
    let oldest = if from_ip >= limits.max_connections_per_ip {
        c.open.iter().find(|(_, o)| o.ip == ip).map(|(&id, _)| id)
    } else if c.open.len() >= limits.max_connections {
        c.open.keys().next().copied()
    } else {
        None
    };
    // Dropping its sender closes it.
    let evicted = oldest.and_then(|id| c.open.remove(&id)).is_some();
    let id = c.next;
    c.next += 1;
    let (close, closed) = oneshot::channel();
    c.open.insert(id, Open { ip, _close: close });
    let slot = Slot {
        connections: Arc::clone(connections),
        id,
    };
    Some((slot, closed, evicted))
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

/// A probe's answer: 200 with its sentence, or 503 with the reason. Its connection
/// closes after it, so a probe holds no place (the kubelet opens one per probe).
fn probe(result: Result<String, String>) -> Response<Full<Bytes>> {
    let plain = "text/plain; charset=utf-8";
    let mut response = match result {
        Ok(msg) => text(StatusCode::OK, plain, msg + "\n"),
        Err(msg) => text(StatusCode::SERVICE_UNAVAILABLE, plain, msg + "\n"),
    };
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
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

/// Serves one connection until the client closes it, a timeout does, or a newer
/// connection needs its place (`closed`).
async fn connection(
    stream: TcpStream,
    metrics: Arc<Metrics>,
    limits: Limits,
    _slot: Slot,
    closed: oneshot::Receiver<()>,
) {
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let response = respond(&metrics, req.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let serving = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = serving => {
            if let Err(e) = result {
                debug!("HTTP connection closed: {e}");
            }
        }
        // Dropping the connection closes its socket.
        _ = closed => debug!("HTTP connection closed to make room for a newer one"),
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
        let Some((slot, closed, evicted)) = admit(&connections, peer.ip(), &limits) else {
            continue;
        };
        if evicted && cap_warning.ready(Instant::now()) {
            warn!(peer = %peer, "HTTP connection limit reached; closing the oldest connections to make room");
        }
        tokio::spawn(connection(
            stream,
            Arc::clone(&metrics),
            limits,
            slot,
            closed,
        ));
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
    fn a_cap_closes_the_oldest_connection_of_the_peer_then_of_all() {
        let limits = Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Limits::default()
        };
        let c = Arc::new(Mutex::new(Connections::default()));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let admit = |ip| admit(&c, ip, &limits).expect("admitted");
        let (_a1, mut a1_closed, _) = admit(a);
        let (_a2, mut a2_closed, _) = admit(a);
        let (_a3, mut a3_closed, evicted) = admit(a);
        assert!(evicted, "a is at its cap");
        assert!(a1_closed.try_recv().is_err(), "a's oldest is closed");
        assert!(matches!(
            a2_closed.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        let (_b1, mut b1_closed, evicted) = admit(b);
        assert!(!evicted, "3 open, under both caps");
        let (b2, _b2_closed, evicted) = admit(b);
        assert!(evicted, "the total is at its cap");
        assert!(a2_closed.try_recv().is_err(), "the oldest of all is closed");
        assert!(matches!(
            b1_closed.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
        drop(b2);
        let (_b3, _, evicted) = admit(b);
        assert!(!evicted, "b2's place came back");
        assert!(matches!(
            a3_closed.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));
    }
}
