//! Loading, attaching and watching the BPF scheduler.

use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::{Link, OpenObject};
use mus_bpf::{BpfSkel, BpfSkelBuilder};
use mus_common::stats::Counters;
use scx_utils::{scx_ops_attach, scx_ops_load, scx_ops_open, uei_exited, uei_read};
use tracing::{info, warn};

use crate::cli::Args;
use crate::pin;
use crate::stats::Line;

/// How often the run loop looks for a signal or an ejection.
const POLL: Duration = Duration::from_millis(100);

/// Why the scheduler stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// SIGINT/SIGTERM: the operator stopped us.
    Signalled,
    /// The kernel ejected the scheduler and asked for a restart.
    Restart,
    /// The kernel ejected the scheduler (error, watchdog, sysrq).
    Ejected,
}

pub struct Scheduler<'obj> {
    skel: BpfSkel<'obj>,
    link: Option<Link>,
    pin_path: PathBuf,
    stats_pin_path: PathBuf,
    stats_every: Option<Duration>,
}

impl<'obj> Scheduler<'obj> {
    /// Opens, configures, loads and pins the scheduler, then attaches it.
    pub fn init(args: &Args, open_object: &'obj mut MaybeUninit<OpenObject>) -> Result<Self> {
        let stale = pin::inspect(&args.pin_path)?;
        let stats_pin_path = mus_common::stats_pin_path(&args.pin_path);
        pin::inspect_stats(&stats_pin_path)?;

        let builder = BpfSkelBuilder::default();
        let mut open = scx_ops_open!(builder, open_object, mus_ops, None)?;
        let rodata = open
            .maps
            .rodata_data
            .as_mut()
            .context("the BPF object has no .rodata to configure")?;
        rodata.slice_ns = args.slice_us * 1000;
        rodata.slice_min_ns = args.slice_min_us.min(args.slice_us) * 1000;
        rodata.preempt_enabled = !args.no_preempt;
        rodata.default_high_weight = args.high_weight.get();
        rodata.nr_cpus = libbpf_rs::num_possible_cpus()
            .context("cannot count the possible CPUs")?
            .try_into()
            .context("too many CPUs")?;
        log_cgroup_knobs();

        if let Some(stale) = &stale {
            open.maps
                .high_prio_cgroups
                .reuse_pinned_map(&args.pin_path)
                .context("cannot reuse the map a previous runner pinned")?;
            info!(
                pin = %args.pin_path.display(),
                entries = stale.entries,
                "taking over the map a previous runner left pinned, with its boosts"
            );
        }

        let mut skel = scx_ops_load!(open, mus_ops, uei)?;
        if stale.is_none() {
            skel.maps
                .high_prio_cgroups
                .pin(&args.pin_path)
                .with_context(|| format!("cannot pin the map at {}", args.pin_path.display()))?;
        }

        let attached = pin::restrict(&args.pin_path)
            .and_then(|()| pin::pin_stats(&mut skel.maps.stats, &stats_pin_path))
            .and_then(|()| scx_ops_attach!(skel, mus_ops));
        let link = match attached {
            Ok(link) => link,
            Err(e) => {
                // Leave no pin behind that no scheduler reads (or writes).
                if stale.is_none() {
                    pin::remove(&args.pin_path)?;
                }
                pin::remove(&stats_pin_path)?;
                return Err(e);
            }
        };

        Ok(Scheduler {
            skel,
            link: Some(link),
            pin_path: args.pin_path.clone(),
            stats_pin_path,
            stats_every: args.stats.map(Duration::from_secs),
        })
    }

    /// Runs until a signal sets `shutdown` or the kernel ejects the scheduler,
    /// printing counters if asked; then detaches and reports why it stopped.
    pub fn run(&mut self, shutdown: &AtomicBool) -> Result<Outcome> {
        let mut last_stats = (Instant::now(), self.counters());
        while !shutdown.load(Ordering::Relaxed) && !uei_exited!(&self.skel, uei) {
            thread::sleep(POLL);
            if let Some(every) = self.stats_every
                && last_stats.0.elapsed() >= every
            {
                let now = self.counters();
                info!("{}", Line(now.since(&last_stats.1)));
                last_stats = (Instant::now(), now);
            }
        }

        let ejected = uei_exited!(&self.skel, uei);
        // Dropping the link detaches the scheduler; the kernel then records why.
        drop(self.link.take());
        let exit = uei_read!(&self.skel, uei);
        if let Err(e) = exit.report() {
            warn!("the kernel ejected the scheduler: {e}");
        }

        Ok(match (ejected, exit.should_restart()) {
            (false, _) => Outcome::Signalled,
            (true, true) => Outcome::Restart,
            (true, false) => Outcome::Ejected,
        })
    }

    /// Removes the pins, for a stop the operator asked for. After an ejection they
    /// are kept instead, so that the runner systemd restarts carries the boosts over
    /// (and replaces the counters' pin).
    pub fn unpin(&self) -> Result<()> {
        pin::remove(&self.stats_pin_path)?;
        pin::remove(&self.pin_path)
    }

    fn counters(&self) -> Counters {
        Counters::read(&self.skel.maps.stats).unwrap_or_else(|e| {
            warn!("cannot read the scheduler's counters: {e}");
            Counters::default()
        })
    }
}

/// Says which of the cgroup cpu controller's knobs this kernel hands to a sched_ext
/// scheduler, and so which mus honours here (cpu.weight always does).
fn log_cgroup_knobs() {
    let has = |op: &str| {
        scx_utils::compat::struct_has_field("sched_ext_ops", op).unwrap_or(false)
    };
    if has("cgroup_set_bandwidth") {
        info!("cpu.max is enforced (the kernel hands cgroup quotas to the scheduler)");
    } else {
        warn!("cpu.max is NOT enforced: this kernel does not hand cgroup quotas to sched_ext schedulers (needs Linux 6.17 or newer)");
    }
    if !has("cgroup_set_idle") {
        warn!("cpu.idle is NOT honoured: this kernel does not tell sched_ext schedulers about it (needs Linux 6.19 or newer)");
    }
}
