//! An open-loop Redis load generator: `GET key` at a fixed rate over a few blocking
//! connections, one thread each. Request `k` (0-based, over all connections) is due at
//! `start + k / rate` and goes on connection `k % connections`, so each connection sends
//! its share of the rate at `start + (c + i * connections) / rate`. A request whose
//! connection is still waiting for an earlier reply goes out as soon as that reply is in
//! (never skipped, never batched), and its latency runs from its *scheduled* time, so the
//! queueing behind a slow reply counts (no coordinated omission).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// When each request is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Requests per second, over all connections.
    pub rate: f64,
    pub connections: u32,
    /// Requests in the whole run: `round(rate * duration)`.
    pub total: u64,
}

impl Schedule {
    /// `None` unless rate and duration are positive and finite, there is a connection,
    /// and the run has at least one request.
    pub fn new(rate: f64, duration_s: f64, connections: u32) -> Option<Schedule> {
        if !(rate.is_finite() && rate > 0.0 && duration_s.is_finite() && duration_s > 0.0)
            || connections == 0
        {
            return None;
        }
        let total = (rate * duration_s).round();
        (total >= 1.0 && total < u64::MAX as f64).then_some(Schedule {
            rate,
            connections,
            total: total as u64,
        })
    }

    /// When request `k` is due, after the start.
    pub fn due(&self, k: u64) -> Duration {
        Duration::from_nanos((k as f64 * 1e9 / self.rate).round() as u64)
    }

    /// The requests connection `conn` sends, in order.
    pub fn requests_of(&self, conn: u32) -> impl Iterator<Item = u64> + use<> {
        (u64::from(conn)..self.total).step_by(self.connections as usize)
    }
}

/// A RESP reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    /// `$-1` is `None`.
    Bulk(Option<Vec<u8>>),
    /// `*-1` is `None`.
    Array(Option<Vec<Reply>>),
}

/// The command `GET key` in RESP.
pub fn get_command(key: &str) -> Vec<u8> {
    let mut c = format!("*2\r\n$3\r\nGET\r\n${}\r\n", key.len()).into_bytes();
    c.extend_from_slice(key.as_bytes());
    c.extend_from_slice(b"\r\n");
    c
}

/// Parses one reply at the start of `buf`: `Ok(None)` if it is not complete yet, else the
/// reply and the number of bytes it took.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[1..eol])
        .map_err(|_| "a reply line that is not UTF-8".to_string())?;
    let after = eol + 2;
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("bad number {s:?} in a reply"))
    };
    let reply = match buf[0] {
        b'+' => Reply::Simple(line.into()),
        b'-' => Reply::Error(line.into()),
        b':' => Reply::Integer(int(line)?),
        b'$' => match int(line)? {
            -1 => Reply::Bulk(None),
            n if n < 0 => return Err(format!("bad bulk length {n}")),
            n => {
                let end = after + n as usize;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(format!("bulk string of length {n} not followed by CRLF"));
                }
                return Ok(Some((Reply::Bulk(Some(buf[after..end].to_vec())), end + 2)));
            }
        },
        b'*' => match int(line)? {
            -1 => Reply::Array(None),
            n if n < 0 => return Err(format!("bad array length {n}")),
            n => {
                let mut items = Vec::new();
                let mut pos = after;
                for _ in 0..n {
                    match parse_reply(&buf[pos..])? {
                        Some((item, used)) => {
                            items.push(item);
                            pos += used;
                        }
                        None => return Ok(None),
                    }
                }
                return Ok(Some((Reply::Array(Some(items)), pos)));
            }
        },
        other => return Err(format!("unknown reply type byte {:?}", other as char)),
    };
    Ok(Some((reply, after)))
}

/// A blocking connection to Redis with a reply buffer.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: &SocketAddr, timeout: Duration) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn send(&mut self, command: &[u8]) -> io::Result<()> {
        self.stream.write_all(command)
    }

    /// Reads one whole reply.
    pub fn reply(&mut self) -> io::Result<Reply> {
        let mut chunk = [0u8; 4096];
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// What one connection measured.
#[derive(Debug, Default)]
pub struct ConnResult {
    /// Latency of each non-error reply, ns from the request's scheduled time.
    pub latencies_ns: Vec<u64>,
    /// The whole second of the schedule each of `latencies_ns`' requests was due in
    /// (same order), for [`per_second`].
    pub due_seconds: Vec<u32>,
    pub errors: u64,
    /// Time of the last reply, after the start.
    pub last_reply: Duration,
}

/// Connection `index`'s share of `schedule`, from `start`.
pub fn drive(
    conn: &mut Conn,
    schedule: &Schedule,
    index: u32,
    start: Instant,
    command: &[u8],
) -> io::Result<ConnResult> {
    let mut out = ConnResult::default();
    for k in schedule.requests_of(index) {
        let due = start + schedule.due(k);
        let now = Instant::now();
        if now < due {
            std::thread::sleep(due - now);
        }
        conn.send(command)?;
        let reply = conn.reply()?;
        let done = Instant::now();
        out.last_reply = done.saturating_duration_since(start);
        match reply {
            Reply::Error(_) => out.errors += 1,
            _ => {
                out.latencies_ns
                    .push(done.saturating_duration_since(due).as_nanos() as u64);
                out.due_seconds.push(schedule.due(k).as_secs() as u32);
            }
        }
    }
    Ok(out)
}

/// Nearest-rank percentile of sorted values: the smallest value with at least
/// `ceil(q/100 * n)` values at or below it. `q` in (0, 100].
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    // (less a hair, so that 99.9% of 1000 is rank 999, not 1000 by rounding)
    let rank = ((q / 100.0) * sorted.len() as f64 - 1e-9).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// The report's lines, `name value`, from every connection's result.
pub fn report(schedule: &Schedule, results: &[ConnResult]) -> String {
    let mut lat: Vec<u64> = results
        .iter()
        .flat_map(|r| r.latencies_ns.iter().copied())
        .collect();
    lat.sort_unstable();
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let requests = lat.len() as u64 + errors;
    let elapsed = results
        .iter()
        .map(|r| r.last_reply)
        .max()
        .unwrap_or_default()
        .as_secs_f64();
    let mut out = format!(
        "target_rate {}\nconnections {}\nrequests {requests}\nerrors {errors}\nelapsed_s {elapsed:.3}\n",
        schedule.rate, schedule.connections
    );
    if elapsed > 0.0 {
        out += &format!("achieved_rate {:.1}\n", requests as f64 / elapsed);
    }
    // Latencies in µs (floor of the ns figure); none when every reply was an error.
    for (name, q) in [
        ("p50_us", 50.0),
        ("p90_us", 90.0),
        ("p99_us", 99.0),
        ("p999_us", 99.9),
        ("max_us", 100.0),
    ] {
        if let Some(v) = percentile(&lat, q) {
            out += &format!("{name} {}\n", v / 1000);
        }
    }
    out
}

/// Every latency by the second its request was due in: one line per second of the
/// schedule, `second <s> <µs> <µs> ...`, the latencies sorted (a second whose requests
/// all failed has none). A time series needs the raw values, not per-second
/// percentiles: percentiles over several seconds cannot be had from per-second ones.
pub fn per_second(schedule: &Schedule, results: &[ConnResult]) -> String {
    let seconds = schedule.due(schedule.total.saturating_sub(1)).as_secs() as usize + 1;
    let mut by_second: Vec<Vec<u64>> = vec![Vec::new(); seconds];
    for r in results {
        for (ns, s) in r.latencies_ns.iter().zip(&r.due_seconds) {
            if let Some(v) = by_second.get_mut(*s as usize) {
                v.push(ns / 1000);
            }
        }
    }
    let mut out = String::new();
    for (s, mut v) in by_second.into_iter().enumerate() {
        v.sort_unstable();
        out += &format!("second {s}");
        for us in v {
            out += &format!(" {us}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spreads_the_rate_over_the_connections() {
        let s = Schedule::new(2000.0, 5.0, 2).unwrap();
        assert_eq!(s.total, 10_000);
        // every 0.5 ms overall; each connection every 1 ms, the second 0.5 ms later
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(1), Duration::from_micros(500));
        assert_eq!(s.due(9_999), Duration::from_micros(4_999_500));
        let c0: Vec<u64> = s.requests_of(0).take(3).collect();
        let c1: Vec<u64> = s.requests_of(1).take(3).collect();
        assert_eq!(c0, [0, 2, 4]);
        assert_eq!(c1, [1, 3, 5]);
        assert_eq!(s.requests_of(0).count() + s.requests_of(1).count(), 10_000);
        let t = |k| s.due(k).as_micros();
        assert_eq!((t(2) - t(0), t(3) - t(1)), (1000, 1000));
        // 3 connections, 10 requests: 4 + 3 + 3, every request exactly once
        let s = Schedule::new(10.0, 1.0, 3).unwrap();
        let mut all: Vec<u64> = (0..3).flat_map(|c| s.requests_of(c)).collect();
        assert_eq!(s.requests_of(0).count(), 4);
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(s.due(7), Duration::from_millis(700));
        // non-integer rate: 333.3 req/s over 3 s = 1000 requests
        let s = Schedule::new(333.3, 3.0, 1).unwrap();
        assert_eq!(s.total, 1000);
        assert_eq!(s.due(3333).as_millis(), 10_000);
    }

    #[test]
    fn schedule_rejects_nonsense() {
        assert_eq!(Schedule::new(0.0, 5.0, 1), None);
        assert_eq!(Schedule::new(-1.0, 5.0, 1), None);
        assert_eq!(Schedule::new(f64::NAN, 5.0, 1), None);
        assert_eq!(Schedule::new(100.0, 0.0, 1), None);
        assert_eq!(Schedule::new(100.0, 5.0, 0), None);
        assert_eq!(Schedule::new(1.0, 0.1, 1), None); // no request at all
        // more connections than requests: the extra ones send nothing
        let s = Schedule::new(2.0, 1.0, 4).unwrap();
        assert_eq!(s.requests_of(3).count(), 0);
    }

    #[test]
    fn get_is_a_resp_array() {
        assert_eq!(get_command("key"), b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
        assert_eq!(
            get_command("bench:key"),
            b"*2\r\n$3\r\nGET\r\n$9\r\nbench:key\r\n"
        );
    }

    #[test]
    fn parses_replies_and_waits_for_incomplete_ones() {
        let p = |b: &[u8]| parse_reply(b).unwrap();
        assert_eq!(p(b"$-1\r\n"), Some((Reply::Bulk(None), 5)));
        assert_eq!(
            p(b"$3\r\nxxx\r\n"),
            Some((Reply::Bulk(Some(b"xxx".to_vec())), 9))
        );
        // a bulk string may hold CRLF; only its length counts
        assert_eq!(
            p(b"$4\r\na\r\nb\r\n+OK\r\n"),
            Some((Reply::Bulk(Some(b"a\r\nb".to_vec())), 10))
        );
        assert_eq!(p(b"$0\r\n\r\n"), Some((Reply::Bulk(Some(vec![])), 6)));
        assert_eq!(p(b"+OK\r\n"), Some((Reply::Simple("OK".into()), 5)));
        assert_eq!(
            p(b"-ERR unknown command\r\n"),
            Some((Reply::Error("ERR unknown command".into()), 22))
        );
        assert_eq!(p(b":42\r\n"), Some((Reply::Integer(42), 5)));
        assert_eq!(
            p(b"*2\r\n$1\r\na\r\n$-1\r\n"),
            Some((
                Reply::Array(Some(vec![
                    Reply::Bulk(Some(b"a".to_vec())),
                    Reply::Bulk(None)
                ])),
                16
            ))
        );
        assert_eq!(p(b"*-1\r\n"), Some((Reply::Array(None), 5)));
        // incomplete: wait for more bytes
        for partial in [
            &b""[..],
            b"$3",
            b"$3\r\n",
            b"$3\r\nxx",
            b"$3\r\nxxx",
            b"$3\r\nxxx\r",
            b"+OK",
            b"*2\r\n$1\r\na\r\n",
        ] {
            assert_eq!(p(partial), None, "{partial:?}");
        }
        // malformed
        assert!(parse_reply(b"$3\r\nxxxx\r\n").is_err());
        assert!(parse_reply(b"$x\r\n").is_err());
        assert!(parse_reply(b"$-2\r\n").is_err());
        assert!(parse_reply(b"?what\r\n").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        // 1000 values: 990 at 100, 9 at 500, 1 at 9000
        let mut v = vec![100u64; 990];
        v.extend([500; 9]);
        v.push(9000);
        assert_eq!(percentile(&v, 50.0), Some(100));
        assert_eq!(percentile(&v, 99.0), Some(100));
        assert_eq!(percentile(&v, 99.1), Some(500));
        assert_eq!(percentile(&v, 99.9), Some(500));
        assert_eq!(percentile(&v, 100.0), Some(9000));
        assert_eq!(percentile(&[7], 0.001), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn report_lines() {
        let s = Schedule::new(4.0, 1.0, 2).unwrap();
        let r = [
            ConnResult {
                latencies_ns: vec![1_500, 900_000],
                due_seconds: vec![0, 0],
                errors: 0,
                last_reply: Duration::from_millis(500),
            },
            ConnResult {
                latencies_ns: vec![2_000],
                due_seconds: vec![0],
                errors: 1,
                last_reply: Duration::from_millis(1000),
            },
        ];
        assert_eq!(
            report(&s, &r),
            "target_rate 4\nconnections 2\nrequests 4\nerrors 1\nelapsed_s 1.000\n\
             achieved_rate 4.0\np50_us 2\np90_us 900\np99_us 900\np999_us 900\nmax_us 900\n"
        );
    }

    #[test]
    fn per_second_lines_hold_each_seconds_latencies_sorted() {
        // 3 requests/s for 3 s over 2 connections: k due at k/3 s
        let s = Schedule::new(3.0, 3.0, 2).unwrap();
        let r = [
            ConnResult {
                // k = 0, 2, 4, 6, 8 (due in seconds 0, 0, 1, 2, 2)
                latencies_ns: vec![9_000, 1_000, 5_000, 7_000],
                due_seconds: vec![0, 0, 1, 2],
                errors: 1,
                last_reply: Duration::from_secs(3),
            },
            ConnResult {
                // k = 1, 5, 7 (k = 3 failed)
                latencies_ns: vec![4_000, 2_000_000, 3_000],
                due_seconds: vec![0, 1, 2],
                errors: 1,
                last_reply: Duration::from_secs(3),
            },
        ];
        assert_eq!(
            per_second(&s, &r),
            "second 0 1 4 9\nsecond 1 5 2000\nsecond 2 3 7\n"
        );
        // a second with no successful reply still has its line
        let s = Schedule::new(1.0, 2.0, 1).unwrap();
        let r = [ConnResult {
            latencies_ns: vec![3_000],
            due_seconds: vec![1],
            errors: 1,
            last_reply: Duration::from_secs(2),
        }];
        assert_eq!(per_second(&s, &r), "second 0\nsecond 1 3\n");
    }
}
