//! What mus-runner's guest-test targets (`tests/vm.rs`, `tests/vm_verifier.rs`) share:
//! a scenario with the runner and bpftool in the guest, the boot that checks sched_ext
//! is there, and reading a result or failing with the guest's console.

use std::time::Duration;

use mus_bpf::intf;
use mus_testbed::{GuestKernel, GuestRun, Scenario, Testbed};

/// A scenario with the runner and bpftool in the guest and the test bed's guest shell
/// library before `script`. The scheduler counters' indices the scenarios read come from `intf.h`.
pub fn scenario(name: &str, script: &str, timeout_s: u64) -> Scenario {
    let indices = format!(
        "STAT_STEALS={}\nSTAT_IDLE_STEALS={}\nSTAT_LLC_MIGRATIONS={}\n\
         STAT_STARVATION_RESCUES={}\nSTAT_LATE_RESCUES={}\n",
        intf::mus_stat_idx_MUS_STAT_STEALS,
        intf::mus_stat_idx_MUS_STAT_IDLE_STEALS,
        intf::mus_stat_idx_MUS_STAT_LLC_MIGRATIONS,
        intf::mus_stat_idx_MUS_STAT_STARVATION_RESCUES,
        intf::mus_stat_idx_MUS_STAT_LATE_RESCUES
    );
    Scenario::with_guest_lib(name, &format!("{indices}{script}"))
        .binary(env!("CARGO_BIN_EXE_mus-runner"))
        .host_tool("bpftool")
        .timeout(Duration::from_secs(timeout_s))
        // a guest frozen or oopsed by the emulator is booted once more (the method says when)
        .boot_again_on_emulator_fault(true)
}

/// Boots `kernel` with `scenario` and checks that sched_ext is there, idle.
pub fn boot_on(kernel: GuestKernel, scenario: Scenario) -> GuestRun {
    let testbed =
        Testbed::prepare_kernel(kernel).unwrap_or_else(|e| panic!("no sched_ext guest: {e}"));
    let run = testbed
        .run(&scenario)
        .unwrap_or_else(|e| panic!("guest run failed: {e}"));
    eprintln!(
        "{} on {} under QEMU {}: {:.1} s",
        scenario.name(),
        testbed.kernel_release(),
        testbed.qemu_version(),
        run.elapsed.as_secs_f64()
    );
    assert_eq!(
        run.get("sched_ext_state"),
        Some("disabled"),
        "the guest kernel must have sched_ext, idle at boot\n{}",
        run.console_tail()
    );
    run
}

/// Fetches `key` or fails the test with the guest's console.
pub fn get<'a>(run: &'a GuestRun, key: &str) -> &'a str {
    run.require(key).unwrap_or_else(|e| panic!("{e}"))
}
