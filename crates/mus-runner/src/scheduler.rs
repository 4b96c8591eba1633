//! Loading, attaching and watching the BPF scheduler.

use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::{Link, OpenObject};
use mus_bpf::{BpfSkel, BpfSkelBuilder};
use mus_common::stats::Counters;
use scx_utils::{scx_ops_attach, scx_ops_load, scx_ops_open, uei_exited, uei_read};
use tracing::{info, warn};

use crate::cli::Args;
use crate::ejection::Class;
use crate::migrate::{self, Existing};
use crate::pin::{self, LoadPin};
use crate::shutdown::Shutdown;
use crate::stats::Line;
use crate::topology::Caches;

/// Why the scheduler stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// SIGINT/SIGTERM: the operator stopped us.
    Signalled,
    /// The kernel ejected the scheduler.
    Ejected(Ejection),
}

/// An ejection, as the kernel recorded it.
#[derive(Debug, PartialEq, Eq)]
pub struct Ejection {
    pub class: Class,
    /// The kernel's short reason, e.g. "disabled by sysrq-S".
    pub reason: String,
    /// The scheduler's or the kernel's message, if any.
    pub msg: String,
    /// The kernel or the scheduler asked to be loaded again at once.
    pub restart_requested: bool,
}

/// A NUL-terminated C string in a fixed buffer, lossily.
fn c_text(buf: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub struct Scheduler<'obj> {
    skel: BpfSkel<'obj>,
    link: Option<Link>,
    pin_path: PathBuf,
    stats_every: Option<Duration>,
}

impl<'obj> Scheduler<'obj> {
    /// Opens, configures, loads and pins the scheduler, then attaches it.
    pub fn init(args: &Args, open_object: &'obj mut MaybeUninit<OpenObject>) -> Result<Self> {
        pin::prepare_dir(&args.pin_path)?;
        pin::adopt_legacy(&args.pin_path)?;
        for load_pin in LoadPin::ALL {
            load_pin.inspect(&args.pin_path)?;
        }

        let builder = BpfSkelBuilder::default();
        let mut open = scx_ops_open!(builder, open_object, mus_ops, None)?;
        let rodata = open
            .maps
            .rodata_data
            .as_mut()
            .context("the BPF object has no .rodata to configure")?;
        rodata.slice_ns = args.slice_us * 1000;
        rodata.slice_min_ns = args.slice_min_us.min(args.slice_us) * 1000;
        rodata.sync_grace_ns = args.sync_grace_us * 1000;
        rodata.preempt_enabled = !args.no_preempt;
        rodata.wait_histograms = !args.no_wait_histograms;
        rodata.watchdog_timeout_ns = u64::from(args.watchdog_timeout_ms) * 1_000_000;
        rodata.default_high_weight = args.high_weight.get();
        let nr_cpus = libbpf_rs::num_possible_cpus().context("cannot count the possible CPUs")?;
        rodata.nr_cpus = nr_cpus.try_into().context("too many CPUs")?;
        let caches = Caches::detect(nr_cpus).or_else(|e| {
            warn!("{e:#}; all CPUs share one queue");
            Caches::single(nr_cpus)
        })?;
        caches.write(rodata);
        info!(
            caches = caches.len(),
            cpus = %caches.describe(),
            "one queue per last-level cache"
        );
        // 0 keeps the kernel's default size of the exit dump.
        open.struct_ops.mus_ops_mut().exit_dump_len = args.exit_dump_len;
        open.struct_ops.mus_ops_mut().timeout_ms = args.watchdog_timeout_ms;

        let existing = migrate::inspect(
            &args.pin_path,
            migrate::Definition::of(&open.maps.high_prio_cgroups),
        )?;
        match &existing {
            Existing::Nothing => {}
            Existing::Reuse { entries } => {
                open.maps
                    .high_prio_cgroups
                    .reuse_pinned_map(&args.pin_path)
                    .context("cannot reuse the map a previous runner pinned")?;
                info!(
                    pin = %args.pin_path.display(),
                    entries,
                    "taking over the map a previous runner left pinned, with its boosts"
                );
            }
            Existing::Migrate(old) => info!(
                pin = %args.pin_path.display(),
                entries = old.len(),
                "the pinned map has another version's definition; its boosts will be copied \
                 into the new map"
            ),
        }

        let mut skel = scx_ops_load!(open, mus_ops, uei)?;
        match &existing {
            Existing::Nothing => skel
                .maps
                .high_prio_cgroups
                .pin(&args.pin_path)
                .with_context(|| format!("cannot pin the map at {}", args.pin_path.display()))?,
            Existing::Reuse { .. } => {}
            Existing::Migrate(old) => old.copy_and_replace(&mut skel.maps.high_prio_cgroups)?,
        }

        let attached = pin::restrict(&args.pin_path)
            .and_then(|()| LoadPin::Counters.pin(&mut skel.maps.stats, &args.pin_path))
            .and_then(|()| LoadPin::Waits.pin(&mut skel.maps.cgroup_waits, &args.pin_path))
            .and_then(|()| scx_ops_attach!(skel, mus_ops));
        let link = match attached {
            Ok(link) => link,
            Err(e) => {
                // Leave no pin behind that no scheduler reads (or writes), unless it
                // holds boosts from before.
                if matches!(existing, Existing::Nothing) {
                    pin::remove(&args.pin_path)?;
                }
                pin::remove_load_pins(&args.pin_path)?;
                return Err(e);
            }
        };

        Ok(Scheduler {
            skel,
            link: Some(link),
            pin_path: args.pin_path.clone(),
            stats_every: args.stats.map(Duration::from_secs),
        })
    }

    /// Runs until a stop is requested or the kernel ejects the scheduler, printing
    /// counters if asked; then detaches and reports why it stopped. Between the two
    /// it sleeps: woken by a signal, by the notice ops.exit sends, or for the next
    /// counters line, and by nothing else.
    pub fn run(&mut self, shutdown: &Shutdown) -> Result<Outcome> {
        let mut last_stats = (Instant::now(), self.counters());
        while !shutdown.requested() && !uei_exited!(&self.skel, uei) {
            let next_stats = self
                .stats_every
                .map(|every| every.saturating_sub(last_stats.0.elapsed()));
            shutdown
                .wait(Some(self.skel.maps.exit_notices.as_fd()), next_stats)
                .context("cannot wait for a signal or the scheduler's exit")?;
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
        if !ejected {
            return Ok(Outcome::Signalled);
        }
        let exit = uei_read!(&self.skel, uei);
        // Prints the dump, if any, and the kernel's one-line reason.
        if let Err(e) = exit.report() {
            warn!("the kernel ejected the scheduler: {e}");
        }
        let uei = &self
            .skel
            .maps
            .data_data
            .as_ref()
            .context("the BPF object has no .data to read the exit from")?
            .uei;
        Ok(Outcome::Ejected(Ejection {
            class: Class::of(uei.kind),
            reason: c_text(&uei.reason),
            msg: c_text(&uei.msg),
            restart_requested: exit.should_restart(),
        }))
    }

    /// Removes the pins, for a stop the operator asked for. After an ejection they
    /// are kept instead, so that the runner systemd restarts carries the boosts over
    /// (and replaces the counters' pin).
    pub fn unpin(&self) -> Result<()> {
        pin::remove_all(&self.pin_path)
    }

    fn counters(&self) -> Counters {
        Counters::read(&self.skel.maps.stats).unwrap_or_else(|e| {
            warn!("cannot read the scheduler's counters: {e}");
            Counters::default()
        })
    }
}
