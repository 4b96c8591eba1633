//! mus-runner: loads the mus sched_ext scheduler, pins its map of boosted cgroups
//! under bpffs for mus-agent to write, and keeps the scheduler running.

mod cli;
mod notify;
mod pin;
mod preflight;
mod scheduler;
mod stats;

use std::mem::MaybeUninit;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use tracing::{info, warn};

use cli::Args;
use scheduler::{Outcome, Scheduler};

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(&args);
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mus-runner: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode> {
    preflight::check(&args.pin_path)?;

    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .context("cannot install signal handlers")?;
    }

    loop {
        let mut open_object = MaybeUninit::uninit();
        let mut sched = Scheduler::init(args, &mut open_object)?;
        info!(
            pin = %args.pin_path.display(),
            slice_us = args.slice_us,
            slice_min_us = args.slice_min_us,
            preempt = !args.no_preempt,
            high_weight = %args.high_weight,
            "mus scheduler attached"
        );
        if let Err(e) = notify::ready() {
            warn!("cannot tell systemd we are ready: {e}");
        }

        match sched.run(&shutdown)? {
            Outcome::Signalled => {
                sched.unpin()?;
                info!("scheduler detached and map unpinned");
                return Ok(ExitCode::SUCCESS);
            }
            Outcome::Restart => info!("the kernel asked for a restart; restarting"),
            Outcome::Ejected => {
                warn!(pin = %args.pin_path.display(), "pin kept so that the next runner keeps the boosts");
                return Ok(ExitCode::FAILURE);
            }
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
