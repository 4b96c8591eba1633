//! redis-rate against a real redis-server, started here on a free loopback port.
//! redis-server must be installed (Debian's `redis-server`, in scripts/setup-debian.sh):
//! without it this test fails rather than pass unseen.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests run one at a time: a port the refused-connection test found free is
/// otherwise free for the other test's redis-server to take too (it did once: the
/// "refused" connection reached that server and was reset).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts redis-server on a free loopback port and returns it with the port once it
/// answers PING. A port found free can be taken again before redis-server binds it (an
/// ephemeral port, and the other test's client connects meanwhile): a server that exits
/// is started again on another port, up to three times.
fn start_redis() -> (Server, u16) {
    for _ in 0..3 {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}): this test needs it installed \
                     (Debian: apt-get install redis-server, or scripts/setup-debian.sh)"
                )
            });
        let mut server = Server(child);
        if answers_ping(&mut server, port) {
            return (server, port);
        }
    }
    panic!("redis-server exited three times before answering PING on a free port");
}

/// Waits until the server answers PING (true) or exits (false), for up to 10 s. Ready
/// means answering, not accepting: a CI run once had the first command after a
/// successful connect reset, and on loopback a connect to a free ephemeral port can even
/// reach its own socket (TCP self-connect).
fn answers_ping(server: &mut Server, port: u16) -> bool {
    let t0 = Instant::now();
    loop {
        let last = match try_raw(port, b"*1\r\n$4\r\nPING\r\n") {
            Ok(reply) if reply == "+PONG\r\n" => return true,
            Ok(reply) => format!("replied {reply:?}"),
            Err(e) => e.to_string(),
        };
        if let Ok(Some(status)) = server.0.try_wait() {
            eprintln!("redis-server on port {port} exited ({status}; last: {last})");
            return false;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "redis-server on port {port} did not answer PING within 10 s (last: {last})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends one raw RESP command on a new connection and returns the first reply bytes.
fn try_raw(port: u16, command: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(command)?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn raw(port: u16, command: &[u8]) -> String {
    try_raw(port, command).unwrap()
}

fn redis_rate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_redis-rate"))
        .args(args)
        .output()
        .unwrap()
}

fn field(out: &str, name: &str) -> f64 {
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{out}"))
        .parse()
        .unwrap()
}

#[test]
fn fixed_rate_against_a_real_redis_server() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, port) = start_redis();
    let p = port.to_string();
    assert_eq!(
        raw(port, b"*3\r\n$3\r\nSET\r\n$9\r\nbench:key\r\n$3\r\nxxx\r\n"),
        "+OK\r\n"
    );

    // 400 req/s for 1 s over 2 connections: 400 GETs, about 1 s, no errors.
    let t0 = Instant::now();
    let out = redis_rate(&[
        "--port",
        &p,
        "--rate",
        "400",
        "--duration",
        "1",
        "--connections",
        "2",
        "--key",
        "bench:key",
    ]);
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(field(&text, "requests"), 400.0, "{text}");
    assert_eq!(field(&text, "errors"), 0.0, "{text}");
    assert!(
        took >= Duration::from_millis(990),
        "took {took:?}: not paced"
    );
    let rate = field(&text, "achieved_rate");
    assert!((300.0..=410.0).contains(&rate), "{text}");
    let p: Vec<f64> = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"]
        .iter()
        .map(|n| field(&text, n))
        .collect();
    assert!(p.windows(2).all(|w| w[0] <= w[1]), "{text}");

    // A missing key is a nil bulk reply, not an error.
    let text = ten_gets(port, "nope");
    assert_eq!(
        (field(&text, "requests"), field(&text, "errors")),
        (10.0, 0.0),
        "{text}"
    );

    // GET on a list is an error reply (WRONGTYPE): counted, not timed.
    assert_eq!(
        raw(port, b"*3\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n$1\r\na\r\n"),
        ":1\r\n"
    );
    let text = ten_gets(port, "list");
    assert_eq!(
        (field(&text, "requests"), field(&text, "errors")),
        (10.0, 10.0),
        "{text}"
    );
    assert!(!text.contains("p50_us"), "{text}");
}

/// redis-rate's report of ten GETs of `key` (50/s for 0.2 s), which must succeed.
fn ten_gets(port: u16, key: &str) -> String {
    let port = port.to_string();
    let out = redis_rate(&[
        "--port",
        &port,
        "--rate",
        "50",
        "--duration",
        "0.2",
        "--key",
        key,
    ]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_refused_connection_is_one_clear_error() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port(); // nothing listens there now
    let out = redis_rate(&[
        "--port",
        &port.to_string(),
        "--rate",
        "10",
        "--duration",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "redis-rate: cannot connect to Redis at 127.0.0.1:{port}: "
        )) && err
            .trim_end()
            .ends_with("(is redis-server running there?).")
            && err.lines().count() == 1,
        "{err}"
    );
}
