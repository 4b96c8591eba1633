//! Building a workspace binary for a guest, with the real cargo.

use std::process::Command;

use mus_testbed::build_workspace_bins;

#[test]
fn builds_a_workspace_binary_and_names_its_path() {
    // redis-rate: the workspace's smallest binary (clap only).
    let [rate] = build_workspace_bins(["redis-rate"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(rate.ends_with("redis-rate"), "{}", rate.display());
    let out = Command::new(&rate).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--rate"));
}

#[test]
fn a_package_that_is_not_in_the_workspace_is_an_error() {
    let e = build_workspace_bins(["no-such-package"]).unwrap_err();
    assert!(e.to_string().contains("--package no-such-package"), "{e}");
}
