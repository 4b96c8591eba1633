//! `--monitor`: the counters of a scheduler that another mus-runner runs, read from
//! their pin and printed every interval as the `--stats` line (the scx convention,
//! as `scx_bpfland --monitor`), followed by each interval's run-queue waits per cgroup
//! (from their pin next to the counters). It loads nothing, so it runs beside the
//! scheduler; the pins are root-only, so it needs root all the same.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use mus_common::stats::Counters;
use mus_common::waits::Waits;

use crate::shutdown::Shutdown;
use crate::stats::Line;
use crate::waits::Lines;

/// One reading of the pinned counters and which pin it came from: a runner that
/// loads the scheduler again pins a new map (a new bpffs inode) whose counters
/// start at 0, so a delta across two pins would be meaningless.
struct Reading {
    pin: u64,
    counters: Counters,
    /// `None` from a runner that pins no histograms (an older version).
    waits: Option<Waits>,
}

/// Prints the counters pinned next to `pin_path`: first since the scheduler was
/// loaded, then what happened in each `every`, with the waits of that interval, until
/// a stop is requested. Fails if nothing is pinned there at the start; a scheduler that
/// stops later is waited for.
pub fn run(pin_path: &Path, every: Duration, shutdown: &Shutdown) -> Result<()> {
    let stats_pin = &mus_common::stats_pin_path(pin_path);
    let waits_pin = &mus_common::waits_pin_path(pin_path);
    let first = read(stats_pin, waits_pin)?.ok_or_else(|| {
        anyhow!(
            "no scheduler's counters are pinned at {}: is mus-runner running (with this \
             --pin-path)?",
            stats_pin.display()
        )
    })?;
    println!("since load: {}", Line(first.counters));
    let mut last = Some(first);
    while !shutdown
        .sleep(every)
        .context("cannot wait for the next reading")?
    {
        let now = read(stats_pin, waits_pin)?;
        match (&last, &now) {
            (Some(before), Some(now)) if before.pin == now.pin => {
                println!(
                    "last {}s: {}",
                    every.as_secs(),
                    Line(now.counters.since(&before.counters))
                );
                if let (Some(was), Some(is)) = (&before.waits, &now.waits) {
                    print!("{}", Lines(&is.since(was)));
                }
            }
            (_, Some(now)) => {
                println!("scheduler loaded again; since load: {}", Line(now.counters))
            }
            (Some(_), None) => println!(
                "{} is gone: the scheduler stopped; waiting for it",
                stats_pin.display()
            ),
            (None, None) => {}
        }
        last = now;
    }
    Ok(())
}

/// `None`: no counters are pinned at `path`.
fn read(path: &Path, waits_path: &Path) -> Result<Option<Reading>> {
    // The pin's identity first: if it is replaced before the counters are read,
    // the next reading sees another inode and starts over rather than subtracting
    // an old map's counters from a new one's.
    let pin = match fs::metadata(path) {
        Ok(meta) => meta.ino(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(e).with_context(|| {
                format!(
                    "cannot look at {}: the scheduler's pins are root-only, run --monitor as root",
                    path.display()
                )
            });
        }
        Err(e) => return Err(e).with_context(|| format!("cannot look at {}", path.display())),
    };
    let waits = Waits::read_pinned(waits_path)?;
    Ok(Counters::read_pinned(path)?.map(|counters| Reading {
        pin,
        counters,
        waits,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_pinned_is_an_error_that_names_the_runner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pin = dir.path().join(mus_common::STATS_PIN_NAME);
        let map = dir.path().join("high_prio_cgroups");
        let err = run(&map, Duration::from_secs(1), &Shutdown::new().unwrap())
            .expect_err("nothing to monitor");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("is mus-runner running") && msg.contains(&pin.display().to_string()),
            "{msg}"
        );
    }
}
