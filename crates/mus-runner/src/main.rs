//! mus-runner: loads the mus sched_ext scheduler, pins its map of boosted cgroups
//! under bpffs for mus-agent to write, and keeps the scheduler running; or, with
//! `--monitor`, prints the counters of the scheduler another runner runs.

mod ejection;
mod kernel_features;
mod libbpf_log;
mod migrate;
mod monitor;
mod notify;
mod pin;
mod preflight;
mod scheduler;
mod shutdown;
mod stats;
mod topology;
mod waits;

use std::mem::MaybeUninit;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use tracing::{info, warn};

use ejection::Backoff;
use mus_runner::cli::{self, Args};
use scheduler::{Outcome, Scheduler};
use shutdown::Shutdown;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(&args);
    libbpf_log::route();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mus-runner: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode> {
    let shutdown = Shutdown::on(&[SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    if let Some(every) = args.monitor {
        monitor::run(&args.pin_path, Duration::from_secs(every), &shutdown)?;
        return Ok(ExitCode::SUCCESS);
    }

    preflight::check(&args.pin_path)?;

    kernel_features::report();
    let mut backoff = Backoff::default();
    loop {
        let mut open_object = MaybeUninit::uninit();
        let mut sched = Scheduler::init(args, &mut open_object)?;
        let attached_at = Instant::now();
        info!(
            pin = %args.pin_path.display(),
            slice_us = args.slice_us,
            slice_min_us = args.slice_min_us,
            sync_grace_us = args.sync_grace_us,
            preempt = !args.no_preempt,
            wait_histograms = !args.no_wait_histograms,
            high_weight = %args.high_weight,
            "mus scheduler attached"
        );
        if let Err(e) = notify::ready() {
            warn!("cannot tell systemd we are ready: {e}");
        }

        let ejection = match sched.run(&shutdown)? {
            Outcome::Signalled => {
                sched.unpin()?;
                info!("scheduler detached and map unpinned");
                return Ok(ExitCode::SUCCESS);
            }
            Outcome::Ejected(ejection) => ejection,
        };
        drop(sched);
        let delay = backoff.next(attached_at.elapsed(), ejection.restart_requested);
        warn!(
            class = %ejection.class,
            reason = %ejection.reason,
            msg = %ejection.msg,
            restart_requested = ejection.restart_requested,
            ejections_in_a_row = backoff.streak(),
            restart_in_ms = delay.as_millis() as u64,
            pin = %args.pin_path.display(),
            "scheduler ejected ({}): {}; pin kept, so the boosts survive; restarting in {:.1} s",
            ejection.class,
            ejection.class.explain(),
            delay.as_secs_f64()
        );
        if shutdown
            .sleep(delay)
            .context("cannot wait to restart the scheduler")?
        {
            pin::remove_all(&args.pin_path)?;
            info!("stopped while waiting to restart; map unpinned");
            return Ok(ExitCode::SUCCESS);
        }
    }
}

fn init_logging(args: &Args) {
    let level = match args.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
