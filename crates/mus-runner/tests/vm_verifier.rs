//! The verifier's cost of mus, held to a committed baseline as each scx scheduler holds
//! its own with veristat: mus-runner loads the scheduler in the guest, and for every
//! program of the `mus_ops` struct_ops map the number of instructions the kernel's
//! verifier processed (`verified_insns` of the program info) is compared, by program
//! name, with `crates/mus-bpf/verifier-baseline/<kernel>.json`. A program whose count grows
//! past the tolerance fails the test, and so does a program that appears or disappears.
//!
//! When the growth is intended (the BPF changed on purpose), re-bless both kernels' files
//! with one command and commit them with the change, so that review sees the cost:
//!
//! ```text
//! MUS_VERIFIER_BLESS=1 cargo test -p mus-runner --test vm_verifier
//! ```
//!
//! (add `cloud` or `6_12` to bless one kernel's file). Blessing prints the same table as
//! a check, each program against the old baseline, and passes.
//!
//! The counts depend on the kernel and on what the runner writes into `.rodata` before
//! the load (the CPU count and cache layout among them), so the guest is the test bed's
//! default (2 vCPUs, one cache) for every run.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::{boot_on, get};
use mus_testbed::{GuestKernel, GuestRun};
use serde::{Deserialize, Serialize};

/// Set to 1 to write the measured counts as the new baseline instead of comparing.
const BLESS_VAR: &str = "MUS_VERIFIER_BLESS";
const BLESS_COMMAND: &str = "MUS_VERIFIER_BLESS=1 cargo test -p mus-runner --test vm_verifier";

/// A program may grow by this fraction of its baseline count without failing...
const TOLERANCE_PERCENT: u64 = 10;
/// ... or by this many instructions, whichever is more: a small program's few extra
/// instructions are no cost worth a review.
const SLACK_INSNS: u64 = 100;

/// What one kernel's baseline file holds.
#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    /// The guest kernel's release when the baseline was blessed: a kernel update can
    /// change the counts as much as a change to the BPF.
    kernel: String,
    /// Seconds from starting mus-runner to sched_ext enabled (open, verification, load
    /// and attach) under the emulator, when blessed; a record, not compared.
    load_seconds: f64,
    /// Instructions the verifier processed, per program of the struct_ops map.
    verified_insns: BTreeMap<String, u64>,
}

/// The most instructions a program with `baseline` of them may now take.
fn allowed(baseline: u64) -> u64 {
    baseline + (baseline * TOLERANCE_PERCENT / 100).max(SLACK_INSNS)
}

/// One sentence per program that grew past its allowance, appeared or disappeared.
fn regressions(baseline: &BTreeMap<String, u64>, now: &BTreeMap<String, u64>) -> Vec<String> {
    let mut found = Vec::new();
    for (name, &before) in baseline {
        match now.get(name) {
            None => found.push(format!(
                "{name} is in the baseline but no longer in mus_ops (renamed or removed?)"
            )),
            Some(&insns) if insns > allowed(before) => found.push(format!(
                "{name}: {insns} instructions verified, {before} in the baseline (+{:.1} %, \
                 allowed up to {})",
                percent_change(before, insns),
                allowed(before)
            )),
            Some(_) => {}
        }
    }
    for name in now.keys().filter(|name| !baseline.contains_key(*name)) {
        found.push(format!(
            "{name} ({} instructions) is a program of mus_ops the baseline does not have",
            now[name]
        ));
    }
    found
}

fn percent_change(before: u64, after: u64) -> f64 {
    (after as f64 - before as f64) * 100.0 / (before.max(1) as f64)
}

/// The baseline file of `kernel`, in mus-bpf next to the code it measures.
fn baseline_path(kernel: GuestKernel) -> PathBuf {
    let file = match kernel {
        GuestKernel::Cloud => "cloud.json",
        GuestKernel::Lts612 => "lts612.json",
    };
    let crates = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("mus-runner is in crates/");
    crates.join("mus-bpf/verifier-baseline").join(file)
}

/// Loads mus on `kernel` and reads what the scenario measured.
fn measure(kernel: GuestKernel, name: &str) -> (GuestRun, Baseline) {
    let run = boot_on(
        kernel,
        common::scenario(name, include_str!("scenarios/verifier.sh"), 300),
    );
    let why = run.console_tail();
    assert_eq!(get(&run, "state"), "enabled", "mus did not attach\n{why}");
    assert_eq!(
        get(&run, "ops_dump_rc"),
        "0",
        "bpftool could not dump mus_ops\n{why}"
    );
    let mut verified_insns = BTreeMap::new();
    for line in run.all("prog") {
        let (program, insns) = line.split_once(' ').unwrap_or((line, ""));
        assert!(
            program
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bpftool could not name the program {program:?} of mus_ops\n{why}"
        );
        let insns = insns.parse().unwrap_or_else(|_| {
            panic!("no verified_insns for {program} among the runner's program fds\n{why}")
        });
        verified_insns.insert(program.to_string(), insns);
    }
    assert!(
        !verified_insns.is_empty(),
        "no program found in the mus_ops struct_ops map\n{why}"
    );
    let load_cs: u32 = run.number("load_cs").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(get(&run, "runner_rc"), "0", "{why}");
    let measured = Baseline {
        kernel: get(&run, "kernel").to_string(),
        load_seconds: f64::from(load_cs) / 100.0,
        verified_insns,
    };
    (run, measured)
}

/// Prints each program's count against the baseline, for the log a reviewer reads.
fn print_table(baseline: Option<&Baseline>, now: &Baseline) {
    let before = |name: &str| baseline.and_then(|b| b.verified_insns.get(name).copied());
    eprintln!("verified instructions on {}:", now.kernel);
    for (name, &insns) in &now.verified_insns {
        match before(name) {
            Some(b) => eprintln!(
                "  {name:<24} {insns:>8}  (baseline {b}, {:+.1} %)",
                percent_change(b, insns)
            ),
            None => eprintln!("  {name:<24} {insns:>8}  (not in the baseline)"),
        }
    }
    let total: u64 = now.verified_insns.values().sum();
    eprintln!(
        "  total {total}; from start to attached {:.2} s (baseline {})",
        now.load_seconds,
        baseline.map_or("none".into(), |b| format!("{:.2} s", b.load_seconds))
    );
}

/// Compares the measured counts with `kernel`'s baseline, or writes them as the new
/// baseline when blessing.
fn check_against_baseline(kernel: GuestKernel, measured: &Baseline) {
    let path = baseline_path(kernel);
    let baseline = fs::read_to_string(&path).ok().map(|text| {
        serde_json::from_str::<Baseline>(&text)
            .unwrap_or_else(|e| panic!("{} is not a verifier baseline: {e}", path.display()))
    });
    print_table(baseline.as_ref(), measured);

    if std::env::var(BLESS_VAR).is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(measured).expect("a baseline serializes");
        fs::create_dir_all(path.parent().expect("the path has a directory"))
            .and_then(|()| fs::write(&path, text + "\n"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("wrote {}: commit it", path.display());
        return;
    }

    let Some(baseline) = baseline else {
        panic!(
            "no verifier baseline at {}: write one with `{BLESS_COMMAND}` and commit it",
            path.display()
        );
    };
    let found = regressions(&baseline.verified_insns, &measured.verified_insns);
    let kernel_note = if baseline.kernel == measured.kernel {
        String::new()
    } else {
        format!(
            "\n(the baseline was blessed on {}, this is {}: the kernel's verifier may be the \
             cause)",
            baseline.kernel, measured.kernel
        )
    };
    assert!(
        found.is_empty(),
        "the verifier's cost of mus is off its baseline {} (a program may grow by \
         {TOLERANCE_PERCENT} % or {SLACK_INSNS} instructions, whichever is more):\n  \
         {}{kernel_note}\nIf this is intended, re-bless with `{BLESS_COMMAND}` and commit \
         crates/mus-bpf/verifier-baseline/.",
        path.display(),
        found.join("\n  ")
    );
}

#[test]
fn the_verifier_cost_on_the_cloud_kernel_stays_within_its_baseline() {
    let (_, measured) = measure(GuestKernel::Cloud, "verifier");
    check_against_baseline(GuestKernel::Cloud, &measured);
}

#[test]
fn the_verifier_cost_on_6_12_lts_stays_within_its_baseline() {
    let (run, measured) = measure(GuestKernel::Lts612, "verifier-6.12");
    assert!(
        measured.kernel.starts_with("6.12."),
        "{}",
        run.console_tail()
    );
    check_against_baseline(GuestKernel::Lts612, &measured);
}

/// The comparison itself, without a guest: growth within the tolerance passes, past it
/// fails, and so does a program that appears or disappears.
#[test]
fn growth_past_the_tolerance_and_programs_coming_or_going_are_reported() {
    let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|&(n, c)| (n.to_string(), c)).collect()
    };
    let baseline = counts(&[
        ("mus_dispatch", 20_000),
        ("mus_exit", 30),
        ("mus_tick", 5_000),
    ]);
    // The regressions of `now`, each starting as one of `expected`, in order.
    let check = |now: &[(&str, u64)], expected: &[&str]| {
        let found = regressions(&baseline, &counts(now));
        assert_eq!(found.len(), expected.len(), "{found:?}");
        for (sentence, start) in found.iter().zip(expected) {
            assert!(sentence.starts_with(start), "{found:?}");
        }
    };

    // +10 % of a large program, +100 of a tiny one, and any shrinking: all within
    check(
        &[
            ("mus_dispatch", 22_000),
            ("mus_exit", 130),
            ("mus_tick", 10),
        ],
        &[],
    );
    check(
        &[
            ("mus_dispatch", 22_001),
            ("mus_exit", 131),
            ("mus_tick", 5_000),
        ],
        &[
            "mus_dispatch: 22001 instructions verified, 20000 in",
            "mus_exit: 131",
        ],
    );
    check(
        &[
            ("mus_dispatch", 20_000),
            ("mus_exit", 30),
            ("mus_ticks", 5_000),
        ],
        &[
            "mus_tick is in the baseline but no longer in mus_ops",
            "mus_ticks (5000 instructions) is a program of mus_ops",
        ],
    );
}
