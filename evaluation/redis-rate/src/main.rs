//! `redis-rate`: `GET key` at a fixed rate (open loop), latency percentiles in µs on stdout
//! as `name value` lines. See the library for the schedule.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use redis_rate::{Conn, Schedule, drive, get_command, per_second, report};

/// Sends `GET key` to Redis at a fixed rate over blocking connections (one thread each)
/// and prints the latency from each request's scheduled send time.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Requests per second, over all connections.
    #[arg(long)]
    rate: f64,
    /// Seconds of requests (the run lasts longer if replies fall behind).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Connections, one thread each; each sends rate/connections requests per second.
    #[arg(long, default_value_t = 1)]
    connections: u32,
    /// The key to GET.
    #[arg(long, default_value = "key")]
    key: String,
    /// After the summary, every latency by the second its request was due in
    /// (`second <s> <µs> ...` lines): for time series (`cargo xtask bench auto`).
    #[arg(long)]
    per_second: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("redis-rate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<String, String> {
    let schedule = Schedule::new(args.rate, args.duration, args.connections).ok_or_else(|| {
        format!(
            "--rate and --duration must be positive with at least one request in the run, and --connections at least 1 (got {} req/s for {} s over {})",
            args.rate, args.duration, args.connections
        )
    })?;
    let target = format!("{}:{}", args.host, args.port);
    let addr: SocketAddr = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target}: {e}."))?
        .next()
        .ok_or_else(|| format!("{target} resolves to no address."))?;
    let mut conns = Vec::new();
    for _ in 0..args.connections {
        conns.push(Conn::connect(&addr, Duration::from_secs(5)).map_err(|e| {
            format!("cannot connect to Redis at {addr}: {e} (is redis-server running there?).")
        })?);
    }
    let command = get_command(&args.key);
    // A little ahead, so that every thread is waiting when the first request is due.
    let start = Instant::now() + Duration::from_millis(20);
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .iter_mut()
            .enumerate()
            .map(|(i, conn)| {
                let (command, schedule) = (&command, &schedule);
                s.spawn(move || drive(conn, schedule, i as u32, start, command))
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                h.join()
                    .map_err(|_| format!("connection {i}'s thread panicked."))?
                    .map_err(|e| format!("connection {i} to {addr} failed: {e}."))
            })
            .collect::<Result<Vec<_>, String>>()
    })?;
    let mut out = report(&schedule, &results);
    if args.per_second {
        out += &per_second(&schedule, &results);
    }
    Ok(out)
}
