//! Builds the BPF scheduler and generates its skeleton and interface bindings.
//!
//! `scx_cargo` compiles with `$BPF_CLANG`, which `.cargo/config.toml` points at
//! `tools/bpf-clang` (it finds clang 18+ under its versioned name). scx_cargo's own
//! failure for a missing clang is terse, so check first and say what to install.

use std::env;
use std::process::Command;

fn clang_runs(clang: &str) -> bool {
    Command::new(clang)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

fn main() {
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    let clang = env::var("BPF_CLANG").unwrap_or_else(|_| "clang".into());
    // A build script reports failure by panicking; the message is what the user sees.
    assert!(
        clang_runs(&clang),
        "mus-bpf: {clang} is not a usable clang; the BPF scheduler needs clang 18 or newer \
         (Debian 12: `apt-get install clang-19 libelf-dev zlib1g-dev pkg-config`), or set BPF_CLANG"
    );

    // One source: main.bpf.c includes the files by concern (see its end), so that
    // they are one translation unit; scx_cargo reruns the build when any of them
    // changes (clang's list of the files a source includes).
    scx_cargo::BpfBuilder::new()
        .expect("mus-bpf: could not set up the BPF build")
        .enable_intf("src/bpf/intf.h", "bpf_intf.rs")
        .enable_skel("src/bpf/main.bpf.c", "bpf")
        .build()
        .expect("mus-bpf: building the BPF scheduler failed (see clang's output above)");
}
