//! Running QEMU: the command line, console capture and the wall-clock limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::TestbedError;

/// Kernel command line. `panic=-1` turns a guest panic into a reboot, which `-no-reboot`
/// turns into QEMU exiting, so a crashed guest never waits out the timeout. `quiet` keeps
/// the console to errors (a sched_ext scheduler's exit reason is one) and our results.
const APPEND: &str = "console=ttyS0 panic=-1 quiet loglevel=4";

/// The QEMU invocation for one boot. TCG, not KVM: nested KVM on the machines this runs
/// on fails in the kernel decompressor (see shared/design/VM-TESTBED.md).
pub(crate) fn command(
    qemu: &Path,
    kernel: &Path,
    initrd: &Path,
    cpus: u32,
    memory_mib: u32,
) -> Command {
    let mut append = APPEND.to_string();
    // MUS_VM_APPEND adds kernel parameters, e.g. `loglevel=7` to see the whole boot.
    if let Some(extra) = std::env::var("MUS_VM_APPEND")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        append.push(' ');
        append.push_str(extra.trim());
    }
    let mut cmd = Command::new(qemu);
    cmd.args(["-accel", "tcg,thread=multi", "-cpu", "max"])
        .args(["-smp", &cpus.to_string(), "-m", &memory_mib.to_string()])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(append)
        .args(["-nographic", "-no-reboot", "-nic", "none"]);
    // If the test process dies (Ctrl-C, SIGKILL from a CI timeout), take QEMU with it
    // rather than leave a TCG guest spinning a host CPU.
    // SAFETY: the closure runs between fork and exec and only makes one prctl call,
    // which is async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    cmd
}

/// What a captured boot left behind.
pub(crate) struct Captured {
    /// The console, cleaned of `\r` and terminal escapes.
    pub console: String,
    pub stderr: String,
    /// None when the boot was killed for taking too long.
    pub status: Option<ExitStatus>,
    pub elapsed: Duration,
}

/// Runs `cmd` with the console on a pipe, killing it after `timeout`. With `echo`, each
/// console line is also written to stderr as it arrives.
pub(crate) fn run_captured(
    mut cmd: Command,
    timeout: Duration,
    echo: bool,
) -> Result<Captured, TestbedError> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TestbedError::io("starting qemu-system-x86_64", e))?;
    // Both pipes are drained on threads: a full stderr pipe would stall QEMU otherwise.
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take();
    let reader = thread::spawn(move || {
        let Some(stdout) = stdout else { return };
        let mut lines = BufReader::new(stdout);
        let mut buf = Vec::new();
        while matches!(lines.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = crate::console::clean(&String::from_utf8_lossy(&buf));
            buf.clear();
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take();
    let err_reader = thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut text);
        }
        text
    });

    let deadline = started + timeout;
    let mut console = String::new();
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if echo {
                    let _ = std::io::stderr().write_all(line.as_bytes());
                }
                console.push_str(&line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                kill(&mut child);
                break;
            }
        }
    }
    // After a kill the pipe closes; keep what was still buffered.
    let _ = reader.join();
    console.extend(rx.try_iter());
    let status = child
        .wait()
        .map_err(|e| TestbedError::io("waiting for qemu-system-x86_64", e))?;
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Captured {
        console,
        stderr,
        status: (!timed_out).then_some(status),
        elapsed: started.elapsed(),
    })
}

fn kill(child: &mut Child) {
    // Already gone is fine: it exited between the timeout and the kill.
    let _ = child.kill();
}

/// Runs `cmd` on the caller's terminal (console in and out, Ctrl-A X quits QEMU).
pub(crate) fn run_interactive(mut cmd: Command) -> Result<ExitStatus, TestbedError> {
    cmd.stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| TestbedError::io("running qemu-system-x86_64", e))
}
