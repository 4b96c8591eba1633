//! crates/mus-runner/systemd/mus-runner.service checked by systemd's own tools, offline
//! (no systemd needs to be running): `systemd-analyze verify` finds no unknown or
//! misspelt setting, and `systemd-analyze security` finds no exposure but the ones the
//! unit explains. scripts/setup-debian.sh installs systemd; without systemd-analyze
//! these tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/mus-runner.service")
}

fn analyze(args: &[&str]) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run systemd-analyze ({e}): install systemd (scripts/setup-debian.sh)")
        })
}

#[test]
fn the_unit_verifies_with_no_unknown_setting() {
    // verify also checks that ExecStart= is executable: point it at this build.
    let text = std::fs::read_to_string(unit()).expect("unit");
    let exec = "ExecStart=/usr/local/bin/mus-runner ";
    assert!(text.contains(exec), "ExecStart= changed: update this test");
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("mus-runner.service");
    let runner = env!("CARGO_BIN_EXE_mus-runner");
    std::fs::write(&copy, text.replace(exec, &format!("ExecStart={runner} "))).expect("write");

    let out = analyze(&["verify", copy.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // systemd before 254 does not know the restart backoff (the unit says so).
    let unexpected: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            !l.contains("Unknown key 'RestartSteps'")
                && !l.contains("Unknown key 'RestartMaxDelaySec'")
        })
        .collect();
    assert!(
        out.status.success() && unexpected.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

/// The exposures `systemd-analyze security` may report, each left on purpose; the
/// unit's comments say why.
const ACCEPTED: [&str; 9] = [
    "User=/DynamicUser=",               // root: the pins are root-owned 0600
    "RootDirectory=/RootImage=",        // the binary comes from the host
    "CapabilityBoundingSet=~CAP_BPF",   // loading a scheduler
    "SystemCallFilter=~@privileged",    // bpf() is in @privileged
    "ProtectKernelTunables=",           // would make /sys/fs/bpf read-only
    "ProcSubset=",                      // scx_utils needs /proc/sys/kernel/ftrace_enabled
    "PrivateUsers=",                    // bpf() checks capabilities in the initial namespace
    "RestrictAddressFamilies=~AF_UNIX", // sd_notify's READY=1
    "DeviceAllow=",                     // ProtectClock='s rtc rule; no rtc with PrivateDevices=
];

#[test]
fn the_only_exposures_are_the_ones_the_unit_explains() {
    let unit = unit();
    let unit = unit.to_str().expect("utf-8 path");
    let out = analyze(&["security", "--offline=true", unit]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exposed: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("✗ "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let unexplained: Vec<&&str> = exposed.iter().filter(|e| !ACCEPTED.contains(e)).collect();
    assert!(unexplained.is_empty(), "{unexplained:?} exposed:\n{table}");
    assert!(
        !exposed.is_empty(),
        "no ✗ line found: has the table changed?\n{table}"
    );

    // And the total stays where writeups/systemd-hardening.md says (1.0 on systemd
    // 252; --threshold is in tenths).
    let out = analyze(&["security", "--offline=true", "--threshold=10", unit]);
    assert!(
        out.status.success(),
        "exposure above 1.0:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
