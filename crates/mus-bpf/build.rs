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

    // compile_link_gen(), not build(): build() compiles the skeleton's source
    // alone, ignoring add_source().
    scx_cargo::BpfBuilder::new()
        .expect("mus-bpf: could not set up the BPF build")
        .enable_intf("src/bpf/intf.h", "bpf_intf.rs")
        .enable_skel("src/bpf/main.bpf.c", "bpf")
        // The rest of the scheduler, by concern (see src/bpf/mus.bpf.h); the
        // objects are linked into one with libbpf's static linker.
        .add_source("src/bpf/init.bpf.c")
        .add_source("src/bpf/cgroup.bpf.c")
        .add_source("src/bpf/cpumax.bpf.c")
        .add_source("src/bpf/queues.bpf.c")
        .add_source("src/bpf/vtime.bpf.c")
        .add_source("src/bpf/wakeup.bpf.c")
        .add_source("src/bpf/dispatch.bpf.c")
        .add_source("src/bpf/waits.bpf.c")
        .compile_link_gen()
        .expect("mus-bpf: building the BPF scheduler failed (see clang's output above)");
}
