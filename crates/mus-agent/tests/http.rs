//! The watch daemon's HTTP endpoint under abuse: request heads that never end, one
//! noisy peer, a file table that runs out. Real TCP on loopback; the last test runs
//! the real binary.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::child::{AgentFiles, spawn_logged, watch_command};
use common::endpoint::get;
use common::{FakeApi, QuietWatches, Reply, a_node, list, pod_list};
use hyper::StatusCode;
use mus_agent::daemon::http::{self, Limits};
use mus_agent::daemon::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A request head cut before its final empty line: the server waits for the rest.
const HALF_SENT: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: mus\r\n";

/// A connection to `addr` from the loopback address `from` (all of 127/8 is local),
/// so that one test can play several peers.
async fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind((from, 0).into()).expect("bind");
    socket.connect(addr).await.expect("connect")
}

/// How long after `since` the server closed `stream` (EOF or reset); `None` if it
/// is still open at `limit`.
async fn closed_after(mut stream: TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    read.ok().map(|()| since.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_requests_are_closed_and_the_probes_still_answer() {
    let metrics = Arc::new(Metrics::new(Duration::from_secs(30), None));
    metrics.ticked(Instant::now());
    let limits = Limits {
        header_timeout: Duration::from_secs(2),
        max_connections: 64,
        max_connections_per_ip: 8,
    };
    let (addr, server) = http::serve("127.0.0.1:0".parse().expect("addr"), metrics, limits)
        .await
        .expect("serve");

    // A noisy pod at 127.0.0.2: 50 connections whose request heads never end.
    let start = Instant::now();
    let mut noisy = Vec::new();
    for _ in 0..50 {
        let mut stream = connect_from([127, 0, 0, 2], addr).await;
        // A connection closed at once may already refuse the write.
        let _ = stream.write_all(HALF_SENT).await;
        noisy.push(stream);
    }
    let closing: Vec<_> = noisy
        .into_iter()
        .map(|s| tokio::spawn(closed_after(s, start, Duration::from_secs(15))))
        .collect();

    // The kubelet's probes, from another address, are answered meanwhile.
    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ok: the daemon's loop ran"), "{body}");
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("map is not open"), "{body}");
    assert!(
        start.elapsed() < limits.header_timeout,
        "the probes answered while the noisy connections were open"
    );

    // The server closes every one of them: those past the per-address cap at once,
    // the 8 it took when their header timeout runs out.
    let mut closed = Vec::new();
    for c in closing {
        closed.push(
            c.await
                .expect("join")
                .expect("closed by the server within 15 s"),
        );
    }
    let held = closed
        .iter()
        .filter(|&&t| t >= limits.header_timeout)
        .count();
    assert_eq!(held, 8, "{closed:?}");
    assert!(
        closed.iter().all(|&t| t < limits.header_timeout * 3),
        "{closed:?}"
    );
    // And the noisy peer gets its places back.
    let mut again = connect_from([127, 0, 0, 2], addr).await;
    let mut response = String::new();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: mus\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    again.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.abort();
}

/// Reads one response off a kept-alive connection: its head and its body, as long
/// as its Content-Length says.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")?
                        .parse()
                        .ok()
                })
                .expect("content-length");
            if body.len() >= length {
                return text;
            }
        }
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed mid-response: {text}");
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_connections_from_the_kubelets_address_do_not_lock_the_probes_out() {
    let metrics = Arc::new(Metrics::new(Duration::from_secs(30), None));
    metrics.ticked(Instant::now());
    let limits = Limits::default();
    let (addr, server) = http::serve("127.0.0.1:0".parse().expect("addr"), metrics, limits)
        .await
        .expect("serve");

    // A hostNetwork pod shares the kubelet's address (here 127.0.0.1): it scrapes
    // over more keep-alive connections than one address may hold, and keeps them.
    let mut held = Vec::new();
    for _ in 0..limits.max_connections_per_ip + 4 {
        let mut stream = connect_from([127, 0, 0, 1], addr).await;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: mus\r\n\r\n")
            .await
            .expect("write");
        // A server that refuses newcomers at the cap closes these unanswered.
        if tokio::time::timeout(Duration::from_secs(2), read_response(&mut stream))
            .await
            .is_ok()
        {
            held.push(stream);
        }
    }
    assert!(!held.is_empty());

    // The kubelet's probe from the same address is answered at once, and its
    // connection is not kept: a probe holds no place after its answer.
    let start = Instant::now();
    let mut probe = connect_from([127, 0, 0, 1], addr).await;
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: mus\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    let read =
        tokio::time::timeout(Duration::from_secs(2), probe.read_to_string(&mut response)).await;
    assert!(
        read.is_ok_and(|r| r.is_ok()) && response.starts_with("HTTP/1.1 200"),
        "the probe was not answered and closed: {response:?}"
    );
    assert!(response.contains("ok: the daemon's loop ran"), "{response}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    server.abort();
}

/// CPU time (user + system) the process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second: u64 = String::from_utf8(
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf")
            .stdout,
    )
    .expect("utf-8")
    .trim()
    .parse()
    .expect("CLK_TCK");
    Duration::from_millis(ticks * 1000 / per_second)
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_errors_back_off_instead_of_spinning() {
    // An API server with no pods, the agent's Node (it stops without one), and
    // watches that stay open while it runs.
    let watches = QuietWatches::default();
    let api = FakeApi::start(move |call| {
        if call.is_watch() {
            watches.open()
        } else if call.path.starts_with("/api/v1/nodes") {
            Reply::Json(StatusCode::OK, list(vec![a_node("n", "2", "")]))
        } else {
            Reply::Json(StatusCode::OK, pod_list(vec![]))
        }
    })
    .await;
    let files = AgentFiles::new(&api.url());
    let (mut child, log) = spawn_logged(
        watch_command(&files)
            .args(["--listen", "127.0.0.1:0", "--http-header-timeout", "4"])
            .args(["--http-max-connections-per-ip", "1000"]),
    );
    let pid = child.id();
    let serving = log
        .wait_for_async("serving http://", Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no serving line:\n{}", log.text()));
    let addr: SocketAddr = serving
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no address in {serving:?}"));
    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");

    // A file table with room for 8 more descriptors, then 40 connections.
    let open_fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    let limit = format!("--nofile={}", open_fds + 8);
    let prlimit = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &limit])
        .status()
        .expect("prlimit (util-linux)");
    assert!(prlimit.success());
    let mut held = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let _ = stream.write_all(HALF_SENT).await;
        held.push(stream);
    }
    let failing = log
        .wait_for_async("cannot accept HTTP connections", Duration::from_secs(10))
        .await;
    assert!(failing.is_some(), "accept() never failed:\n{}", log.text());

    // While accept() fails (EMFILE), the agent waits rather than retrying at once:
    // a spinning loop burns a whole CPU in this window.
    let (cpu0, t0) = (cpu_time(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_time(pid) - cpu0;
    let window = t0.elapsed();
    assert!(
        used < window / 4,
        "{used:?} of CPU in {window:?} while accept() failed"
    );

    // Once the clients give up, their descriptors come back and the probe answers.
    drop(held);
    let mut answered = false;
    for _ in 0..50 {
        if tokio::time::timeout(Duration::from_secs(1), get(addr, "/healthz"))
            .await
            .is_ok_and(|(status, _)| status == 200)
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        answered,
        "no answer after the clients left:\n{}",
        log.text()
    );
}
