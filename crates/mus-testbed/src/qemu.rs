//! Running QEMU: the command line, console capture and the wall-clock limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::TestbedError;
use crate::scenario::LineHook;

/// Kernel command line. `panic=-1` turns a guest panic into a reboot, which `-no-reboot`
/// turns into QEMU exiting, so a crashed guest never waits out the timeout. `quiet` keeps
/// the console to errors (a sched_ext scheduler's exit reason is one) and our results.
const APPEND: &str = "console=ttyS0 panic=-1 quiet loglevel=4";

/// The QEMU invocation for one boot. TCG, not KVM: nested KVM on the machines this runs
/// on fails in the kernel decompressor (see shared/design/VM-TESTBED.md).
pub(crate) fn command(qemu: &Path, kernel: &Path, initrd: &Path, shape: Shape) -> Command {
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
        .args(shape.args())
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

/// The version `qemu --version` reports ("QEMU emulator version 10.0.2 (Debian ...)").
pub(crate) fn version(qemu: &Path) -> Result<String, TestbedError> {
    let out = Command::new(qemu)
        .arg("--version")
        .output()
        .map_err(|e| TestbedError::io(format!("running {} --version", qemu.display()), e))?;
    Ok(parse_version(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|| "unknown".into()))
}

fn parse_version(text: &str) -> Option<String> {
    let rest = text.lines().next()?.split("version ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

/// The guest's CPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub cpus: u32,
    pub sockets: u32,
    pub memory_mib: u32,
}

impl Shape {
    /// `-smp` and `-m`, and with several sockets one NUMA node per socket, each backed by
    /// its share of the memory. QEMU reports a socket's cores as sharing one L3 (CPUID
    /// leaf 4), so the guest sees one last-level cache per socket.
    fn args(self) -> Vec<String> {
        let mut args = vec!["-m".to_string(), self.memory_mib.to_string()];
        if self.sockets <= 1 {
            args.extend(["-smp".to_string(), self.cpus.to_string()]);
            return args;
        }
        let cores = self.cpus / self.sockets;
        args.extend([
            "-smp".to_string(),
            format!(
                "{},sockets={},cores={cores},threads=1",
                self.cpus, self.sockets
            ),
        ]);
        let node_mib = self.memory_mib / self.sockets;
        for node in 0..self.sockets {
            let (first, last) = (node * cores, node * cores + cores - 1);
            // The last node takes the rounding remainder, so the nodes add up to -m.
            let size = if node + 1 == self.sockets {
                self.memory_mib - node_mib * node
            } else {
                node_mib
            };
            args.extend([
                "-object".to_string(),
                format!("memory-backend-ram,id=mem{node},size={size}M"),
                "-numa".to_string(),
                format!("node,nodeid={node},cpus={first}-{last},memdev=mem{node}"),
            ]);
        }
        args
    }
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
/// console line is also written to stderr as it arrives; `on_line` sees each line then.
pub(crate) fn run_captured(
    mut cmd: Command,
    timeout: Duration,
    echo: bool,
    on_line: Option<&LineHook>,
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
                if let Some(hook) = on_line {
                    (hook.0)(&line);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_read_from_qemus_banner() {
        let banner = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n\
                      Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n";
        assert_eq!(parse_version(banner).as_deref(), Some("10.0.2"));
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn the_line_hook_sees_each_console_line_as_it_arrives() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let hook = LineHook(std::sync::Arc::new(move |l: &str| {
            log.lock().unwrap().push(l.to_string());
        }));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo '@@MUS host_hog on x 1'; echo done"]);
        let captured = run_captured(cmd, Duration::from_secs(30), false, Some(&hook)).unwrap();
        assert_eq!(*seen.lock().unwrap(), ["@@MUS host_hog on x 1\n", "done\n"]);
        assert_eq!(captured.console, "@@MUS host_hog on x 1\ndone\n");
    }

    #[test]
    fn one_socket_is_a_plain_smp_guest() {
        let shape = Shape {
            cpus: 2,
            sockets: 1,
            memory_mib: 2048,
        };
        assert_eq!(shape.args(), ["-m", "2048", "-smp", "2"]);
    }

    #[test]
    fn two_sockets_get_a_numa_node_each_with_half_the_memory() {
        let shape = Shape {
            cpus: 8,
            sockets: 2,
            memory_mib: 3001,
        };
        let args = shape.args().join(" ");
        assert!(
            args.contains("-smp 8,sockets=2,cores=4,threads=1"),
            "{args}"
        );
        assert!(
            args.contains("memory-backend-ram,id=mem0,size=1500M"),
            "{args}"
        );
        assert!(
            args.contains("memory-backend-ram,id=mem1,size=1501M"),
            "{args}"
        );
        assert!(
            args.contains("node,nodeid=0,cpus=0-3,memdev=mem0"),
            "{args}"
        );
        assert!(
            args.contains("node,nodeid=1,cpus=4-7,memdev=mem1"),
            "{args}"
        );
    }
}
