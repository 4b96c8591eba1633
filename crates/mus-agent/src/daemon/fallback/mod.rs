//! The fallback: where mus is not attached (a kernel without sched_ext, mus-runner
//! stopped, mus ejected and the runner backing off), a granted boost goes through
//! the kernel's own knob instead of the map: the pod cgroup's `cpu.weight` becomes
//! its base × factor / 1024 ([`knob`]), and goes back to the base when mus is
//! attached again, when the boost ends, and when the daemon stops. The base and the
//! value written are recorded on the cgroup ([`record`]), so that the next daemon
//! finds a knob a killed one left raised, and a base kubelet changed is noticed.
//! [`attach`] tells which way a pass goes.
//!
//! Never both at once: a boost in the map and in the knob would count twice (4096 on
//! top of a 4× knob is 16×). The pass (`daemon::pass`) orders it so:
//! falling back, the daemon first takes its entries out of the map (the runner keeps
//! its pin while it backs off, and mus would apply them again the moment it is
//! back), then raises the knobs; on attach it lowers every knob, then writes the map. The one
//! window left errs low: between lowering a knob and writing its entry (two
//! syscalls), the pod runs unboosted. Until the daemon notices a change (its pin
//! check, every second), the boost holds as it was: mus back with the knob still
//! raised and no entry is still 4× (mus honours `cpu.weight` too), and mus gone
//! with the entry still in the map is unboosted until the knob goes up.

pub mod attach;
pub mod knob;
pub mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mus_common::Weight;
use tracing::{info, warn};

use crate::daemon::metrics::Metrics;
use crate::daemon::reconcile::{Desired, PodRef, Wish};
use record::Record;

/// Where kubelet puts pod cgroups under the cgroup mount (systemd and cgroupfs
/// drivers), and how deep pod cgroups are below it (QoS class, then pod).
const KUBEPODS: [&str; 2] = ["kubepods.slice", "kubepods"];
const POD_DEPTH: usize = 2;

/// A knob this daemon raised, or found raised by an earlier one.
#[derive(Clone, Debug)]
struct Raised {
    /// `None`: found on disk, left by a daemon that did not stop cleanly.
    pod: Option<PodRef>,
    record: Record,
}

/// The fallback's state between passes.
#[derive(Debug)]
pub struct Fallback {
    cgroup_root: PathBuf,
    sched_ext: PathBuf,
    metrics: Arc<Metrics>,
    /// Whether mus was attached at the last check (`None`: not checked yet).
    attached: Option<bool>,
    raised: BTreeMap<PathBuf, Raised>,
    /// Whether the knobs earlier daemons left raised were looked for.
    scanned: bool,
    /// Cgroups whose last knob change failed, so that a failure is logged once.
    failing: BTreeSet<PathBuf>,
}

impl Fallback {
    /// The fallback for the cgroup mount `cgroup_root`, reading sched_ext's state
    /// from `sched_ext` ([`attach::SCHED_EXT_SYSFS`]).
    pub fn new(cgroup_root: PathBuf, sched_ext: PathBuf, metrics: Arc<Metrics>) -> Fallback {
        Fallback {
            cgroup_root,
            sched_ext,
            metrics,
            attached: None,
            raised: BTreeMap::new(),
            scanned: false,
            failing: BTreeSet::new(),
        }
    }

    /// Checks whether mus is attached (running, and its map open: `map_open`);
    /// `true` when that changed since the last check, so that a pass is due.
    pub fn poll(&mut self, map_open: bool) -> bool {
        let attached = map_open && attach::mus_enabled(&self.sched_ext);
        let changed = self.attached.replace(attached) != Some(attached);
        if changed {
            if attached {
                info!("mus is attached: boosts go through the scheduler's map");
            } else {
                warn!("mus is not attached: boosts go through cpu.weight until it is");
            }
        }
        changed
    }

    /// Whether the knob of cgroup directory `dir` is raised (a boost in force).
    pub fn holds(&self, dir: &Path) -> bool {
        self.raised.contains_key(dir)
    }

    /// Whether mus was attached at the last [`Fallback::poll`].
    pub fn attached(&self) -> bool {
        self.attached == Some(true)
    }

    /// Raises the knob of every `desired` cgroup and lowers those no longer desired.
    pub fn apply(&mut self, desired: &Desired) {
        self.scan_once();
        for wish in desired.values() {
            self.raise(wish);
        }
        let wanted: BTreeSet<&Path> = desired.values().map(|w| w.path.as_path()).collect();
        let gone: Vec<PathBuf> = self
            .raised
            .keys()
            .filter(|p| !wanted.contains(p.as_path()))
            .cloned()
            .collect();
        for dir in gone {
            self.lower(&dir, "its boost ended");
        }
        self.publish();
    }

    /// Lowers every raised knob (mus is attached, or the daemon stops).
    pub fn restore_all(&mut self, why: &str) {
        self.scan_once();
        let all: Vec<PathBuf> = self.raised.keys().cloned().collect();
        for dir in all {
            self.lower(&dir, why);
        }
        self.publish();
    }

    /// Sets `wish`'s cgroup to its base × factor.
    fn raise(&mut self, wish: &Wish) {
        let dir = &wish.path;
        match raise_knob(dir, wish.weight) {
            Ok(raised) => {
                self.failing.remove(dir);
                if raised.changed {
                    let now = raised.now;
                    let resized = raised
                        .before
                        .filter(|b| b.base != now.base)
                        .map(|b| format!("; its base changed from {} (resized)", b.base))
                        .unwrap_or_default();
                    info!(
                        pod = %wish.pod, cgroup = %dir.display(), base = now.base, written = now.written,
                        "raised cpu.weight of pod {} from {} to {} (boost {}, mus not attached){resized}",
                        wish.pod, now.base, now.written, wish.weight
                    );
                }
                self.raised.insert(
                    dir.clone(),
                    Raised {
                        pod: Some(wish.pod.clone()),
                        record: raised.now,
                    },
                );
            }
            Err(e) => self.failed(
                dir,
                &format!("cannot raise cpu.weight of pod {}", wish.pod),
                &e,
            ),
        }
    }

    /// Puts `dir`'s knob back to its base, unless someone else set it since (that
    /// value stays: it is the new base), then removes the record.
    fn lower(&mut self, dir: &Path, why: &str) {
        let Some(raised) = self.raised.get(dir).cloned() else {
            return;
        };
        let who = raised.pod.as_ref().map_or_else(
            || "a cgroup an earlier daemon boosted".to_string(),
            |p| format!("pod {p}"),
        );
        let result = (|| -> io::Result<u32> {
            let current = knob::read(dir)?;
            let restored = if current == raised.record.written {
                knob::write(dir, raised.record.base)?;
                raised.record.base
            } else {
                current
            };
            record::remove(dir)?;
            Ok(restored)
        })();
        match result {
            Ok(restored) => {
                self.failing.remove(dir);
                self.raised.remove(dir);
                info!(
                    pod = %raised.pod.as_ref().map(ToString::to_string).unwrap_or_default(),
                    cgroup = %dir.display(), base = raised.record.base, written = restored,
                    "restored cpu.weight of {who} to {restored} (was {}): {why}", raised.record.written
                );
            }
            // The cgroup went with its pod: nothing is left to restore.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.failing.remove(dir);
                self.raised.remove(dir);
            }
            Err(e) => self.failed(dir, &format!("cannot restore cpu.weight of {who}"), &e),
        }
    }

    fn failed(&mut self, dir: &Path, what: &str, e: &io::Error) {
        if self.failing.insert(dir.to_path_buf()) {
            let hint = if e.raw_os_error() == Some(nix::libc::EROFS) {
                " (the cgroup tree is mounted read-only: the DaemonSet mounts kubepods read-write for this)"
            } else {
                ""
            };
            warn!(cgroup = %dir.display(), "{what} ({}): {e}{hint}", dir.display());
        }
    }

    /// Adopts the knobs earlier daemons left raised (killed, or crashed), once: each
    /// pod cgroup with a record is restored by the pass that no longer wants it.
    fn scan_once(&mut self) {
        if std::mem::replace(&mut self.scanned, true) {
            return;
        }
        for top in KUBEPODS {
            for dir in pod_dirs(&self.cgroup_root.join(top), POD_DEPTH) {
                if let Ok(Some(record)) = record::read(&dir) {
                    info!(
                        cgroup = %dir.display(), base = record.base, written = record.written,
                        "found cpu.weight of {} raised by an earlier daemon (base {}, written {})",
                        dir.display(), record.base, record.written
                    );
                    self.raised
                        .entry(dir)
                        .or_insert(Raised { pod: None, record });
                }
            }
        }
    }

    fn publish(&self) {
        self.metrics
            .fallback_cgroups
            .store(self.raised.len() as u64, Ordering::Relaxed);
    }
}

/// A clean stop (SIGTERM, SIGINT, the watch ending) drops the daemon and so this:
/// no knob stays raised without a daemon to lower it when mus comes back.
impl Drop for Fallback {
    fn drop(&mut self) {
        self.restore_all("the daemon stops");
    }
}

/// What [`raise_knob`] did.
struct RaisedKnob {
    /// The record on the cgroup now.
    now: Record,
    /// The record that was there before, if any.
    before: Option<Record>,
    /// Whether the knob was written.
    changed: bool,
}

/// Sets `dir`'s knob to its base × `factor`, the record first: a daemon killed in
/// between leaves a record whose base is still right ([`Record::base_now`]).
fn raise_knob(dir: &Path, factor: Weight) -> io::Result<RaisedKnob> {
    let current = knob::read(dir)?;
    let before = record::read(dir)?;
    let base = Record::base_now(before, current);
    let now = Record {
        base,
        written: knob::boosted(base, factor),
    };
    let changed = current != now.written;
    if before != Some(now) {
        record::write(dir, now)?;
    }
    if changed {
        knob::write(dir, now.written)?;
    }
    Ok(RaisedKnob {
        now,
        before,
        changed,
    })
}

/// The directories below `top`, down to `depth` levels (`top` included).
fn pod_dirs(top: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !top.is_dir() {
        return out;
    }
    out.push(top.to_path_buf());
    if depth == 0 {
        return out;
    }
    let Ok(children) = std::fs::read_dir(top) else {
        return out;
    };
    for child in children.flatten() {
        if child.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(pod_dirs(&child.path(), depth - 1));
        }
    }
    out
}
