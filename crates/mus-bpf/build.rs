//! Builds the BPF scheduler and generates its skeleton and interface bindings.
//!
//! `scx_cargo` runs `$BPF_CLANG` (default `clang`), and it needs clang 18 or newer
//! for `-mcpu=v4`. Distributions ship newer clangs under versioned names only
//! (Debian 12: `clang-19`), so a plain `cargo build` looks for one here instead of
//! making every user export `BPF_CLANG`.

use std::env;
use std::process::Command;

/// The oldest clang scx_cargo accepts (it passes `-mcpu=v4`).
const MIN_CLANG: u32 = 18;
/// Versioned names tried, newest first, when `BPF_CLANG` is not set.
const CANDIDATES: &[&str] = &[
    "clang", "clang-22", "clang-21", "clang-20", "clang-19", "clang-18",
];

fn clang_major(cmd: &str) -> Option<u32> {
    let out = Command::new(cmd).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rest = text.split("clang version ").nth(1)?;
    rest.split('.').next()?.trim().parse().ok()
}

fn find_clang() -> Result<String, String> {
    if let Ok(given) = env::var("BPF_CLANG") {
        return match clang_major(&given) {
            Some(v) if v >= MIN_CLANG => Ok(given),
            Some(v) => Err(format!(
                "BPF_CLANG={given} is clang {v}; the BPF scheduler needs clang {MIN_CLANG} or newer"
            )),
            None => Err(format!("BPF_CLANG={given} does not run as clang")),
        };
    }
    CANDIDATES
        .iter()
        .find(|c| clang_major(c).is_some_and(|v| v >= MIN_CLANG))
        .map(|c| c.to_string())
        .ok_or_else(|| {
            format!(
                "no clang {MIN_CLANG} or newer found (tried {}); on Debian 12 run \
                 `apt-get install clang-19 libelf-dev zlib1g-dev pkg-config`, or set BPF_CLANG",
                CANDIDATES.join(", ")
            )
        })
}

fn main() {
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    let clang = find_clang().unwrap_or_else(|msg| {
        // A build script reports failure by panicking; the message is what the user sees.
        panic!("mus-bpf: {msg}")
    });
    // SAFETY: build scripts are single-threaded; scx_cargo reads BPF_CLANG right after.
    unsafe { env::set_var("BPF_CLANG", &clang) };

    scx_cargo::BpfBuilder::new()
        .expect("mus-bpf: could not set up the BPF build")
        .enable_intf("src/bpf/intf.h", "bpf_intf.rs")
        .enable_skel("src/bpf/main.bpf.c", "bpf")
        .build()
        .expect("mus-bpf: building the BPF scheduler failed (see clang's output above)");
}
