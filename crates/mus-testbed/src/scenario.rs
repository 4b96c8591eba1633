//! What to run in one boot: a busybox sh script and the host files it needs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::error::TestbedError;

/// The guest shell library the project's scenarios share (`guest/lib.sh`: the scheduler's
/// pin, sched_ext's state, cgroups, CPU hogs and CPU time, the bench's noise and probes).
pub const GUEST_LIB: &str = include_str!("../guest/lib.sh");

/// One guest boot's worth of work. The script runs as `/scenario.sh` under busybox sh
/// and reports with `@@MUS <key> <value>` lines on stdout.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub(crate) name: String,
    pub(crate) script: String,
    pub(crate) binaries: Vec<PathBuf>,
    pub(crate) tools: Vec<String>,
    pub(crate) files: Vec<(PathBuf, String)>,
    pub(crate) timeout: Duration,
    pub(crate) cpus: u32,
    /// Sockets (one L3 and one NUMA node each) the vCPUs are split over.
    pub(crate) sockets: u32,
    pub(crate) memory_mib: u32,
    pub(crate) echo: bool,
    pub(crate) boot_again_on_emulator_fault: bool,
    pub(crate) on_line: Option<LineHook>,
}

/// A function the host calls with each console line as it arrives (see
/// [`Scenario::on_console_line`]).
#[derive(Clone)]
pub(crate) struct LineHook(pub(crate) Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for LineHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineHook")
    }
}

impl Scenario {
    /// A scenario named `name` (used in messages) running `script` in the guest.
    pub fn new(name: &str, script: &str) -> Scenario {
        Scenario {
            name: name.to_string(),
            script: script.to_string(),
            binaries: Vec::new(),
            tools: Vec::new(),
            files: Vec::new(),
            timeout: Duration::from_secs(120),
            cpus: 2,
            sockets: 1,
            memory_mib: 2048,
            // MUS_VM_ECHO=1 streams every console to stderr, to watch a test boot.
            echo: std::env::var_os("MUS_VM_ECHO").is_some_and(|v| !v.is_empty() && v != "0"),
            boot_again_on_emulator_fault: false,
            on_line: None,
        }
    }

    /// A scenario whose script is [`GUEST_LIB`] and then `script`, which may use its
    /// functions and variables.
    pub fn with_guest_lib(name: &str, script: &str) -> Scenario {
        Scenario::new(name, &format!("{GUEST_LIB}\n{script}"))
    }

    /// Copies a host executable to `/bin/<file name>`, without debug info, together with
    /// the shared libraries `ldd` lists (at the same paths).
    pub fn binary(mut self, host_path: impl AsRef<Path>) -> Self {
        self.binaries.push(host_path.as_ref().to_path_buf());
        self
    }

    /// Copies a host command found on PATH (e.g. "bpftool") to the same path in the
    /// guest, with its shared libraries.
    pub fn host_tool(mut self, name: &str) -> Self {
        self.tools.push(name.to_string());
        self
    }

    /// Copies a host file to `guest_path` (absolute; not under /proc, /sys, /dev, /run,
    /// /tmp or /var, which /init mounts over).
    pub fn file(mut self, host_path: impl AsRef<Path>, guest_path: &str) -> Self {
        self.files
            .push((host_path.as_ref().to_path_buf(), guest_path.to_string()));
        self
    }

    /// Wall-clock limit for the whole boot, scenario and power-off (default 120 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Guest vCPUs (default 2), in one socket.
    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = n.max(1);
        self.sockets = 1;
        self
    }

    /// A multi-socket guest: `sockets` sockets of `cores_per_socket` cores (one thread
    /// each), every socket its own L3 cache and its own NUMA node with an equal part of
    /// the memory. Cache-aware scheduling is only exercised where there is more than one
    /// cache. TCG runs every vCPU on the host's few cores, so such guests are slow.
    pub fn topology(mut self, sockets: u32, cores_per_socket: u32) -> Self {
        self.sockets = sockets.max(1);
        self.cpus = self.sockets * cores_per_socket.max(1);
        self
    }

    /// Guest memory in MiB (default 2048).
    pub fn memory_mib(mut self, n: u32) -> Self {
        self.memory_mib = n;
        self
    }

    /// Streams the console to stderr while the guest runs (default: off, or MUS_VM_ECHO).
    pub fn echo_console(mut self, on: bool) -> Self {
        self.echo = on;
        self
    }

    /// Boots a second time if the first boot outlives the timeout or dies of the
    /// emulator's stale-int3 race ([`GuestRun::died_of_stale_int3`]) (default: off), and
    /// fails only if the second boot fails; the first console's tail goes to stderr.
    /// Both are faults of QEMU's multi-threaded TCG around the kernel's code patching,
    /// which sched_ext's attach and detach do (static branches):
    /// - a whole guest has been seen to freeze silently right as the runner attached mus
    ///   (once: on 6.12, in a CI rehearsal whose every other guest passed; the same test
    ///   then passed alone in 20 s and in a full suite), with no lockup or RCU stall
    ///   report in 180 s, as when every vCPU spins with interrupts off in that patching;
    /// - a vCPU has been seen to trap on an int3 the patching had already removed
    ///   (`Oops: int3` in `sched_tick` at an attach, on CI, QEMU 10.0).
    ///
    /// A scheduler bug that hangs the guest every time still fails; one that does so now
    /// and then would be hidden, which is why this is opt-in and loud. An int3 oops
    /// cannot come from the scheduler (see `died_of_stale_int3`).
    ///
    /// [`GuestRun::died_of_stale_int3`]: crate::GuestRun::died_of_stale_int3
    pub fn boot_again_on_emulator_fault(mut self, on: bool) -> Self {
        self.boot_again_on_emulator_fault = on;
        self
    }

    /// Calls `hook` with each console line (cleaned, with its newline) while the guest
    /// runs, on the thread that waits for the guest: the host can act on the guest's
    /// progress mid-boot (the bench starts and stops a busy host thread between rounds).
    /// The hook must return quickly; the lines are also kept for the run as usual.
    pub fn on_console_line(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_line = Some(LineHook(Arc::new(hook)));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the script's syntax with the host's `sh -n`, without booting: a typo in a
    /// long guest script fails here in milliseconds instead of minutes into a boot. The
    /// host's sh (dash on Debian) is stricter than busybox's ash on nothing the project's
    /// scripts use.
    pub fn check_syntax(&self) -> Result<(), TestbedError> {
        let out = Command::new("sh")
            .args(["-n", "-c", &self.script])
            .output()
            .map_err(|e| TestbedError::io("running sh -n on the host", e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(TestbedError::ScriptSyntax {
            scenario: self.name.clone(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_lib_comes_first_and_is_valid_sh() {
        let scenario = Scenario::with_guest_lib("lib", "mkcg a");
        assert!(scenario.script.starts_with(GUEST_LIB));
        assert!(scenario.script.ends_with("\nmkcg a"));
        scenario.check_syntax().unwrap();
    }

    #[test]
    fn a_syntax_error_names_the_scenario_and_what_sh_expected() {
        let e = Scenario::new("typo", "echo ok\nif true; then echo\n")
            .check_syntax()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`typo`") && e.contains("expecting \"fi\""),
            "{e}"
        );
    }
}
