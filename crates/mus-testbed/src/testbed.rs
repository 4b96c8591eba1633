//! The entry point: a located kernel and the host tools, ready to boot scenarios.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use crate::error::TestbedError;
use crate::guest_run::{GuestRun, console_tail};
use crate::hostbin::{self, Kind};
use crate::initramfs::{Image, check_guest_path};
use crate::kernel::{self, GuestKernel, Kernel};
use crate::paths::find_on_path;
use crate::qemu;
use crate::scenario::Scenario;

/// A sched_ext kernel plus QEMU and a static busybox: everything a boot needs.
#[derive(Debug, Clone)]
pub struct Testbed {
    kernel: Kernel,
    qemu: PathBuf,
    qemu_version: String,
    busybox: PathBuf,
}

impl Testbed {
    /// Finds the kernel: MUS_VM_KERNEL (with MUS_VM_KERNEL_CONFIG checked when given),
    /// else the cache (MUS_VM_CACHE, default `<workspace>/.cache/vm`), else Debian's
    /// trixie-backports cloud kernel, downloaded with a private apt state and checked for
    /// CONFIG_SCHED_CLASS_EXT=y. Also checks for qemu-system-x86_64 and a static busybox.
    pub fn prepare() -> Result<Testbed, TestbedError> {
        Testbed::prepare_kernel(GuestKernel::Cloud)
    }

    /// [`Testbed::prepare`] with a choice of kernel: [`GuestKernel::Lts612`] is built from
    /// Debian's `linux-source-6.12` on first use (many minutes; see DEVELOPING.md) and cached
    /// under [`crate::kernels_cache_dir`]. `MUS_VM_KERNEL` replaces only the cloud kernel.
    pub fn prepare_kernel(which: GuestKernel) -> Result<Testbed, TestbedError> {
        // The cheap checks first, so a missing tool is not reported after a download.
        let qemu = find_on_path("qemu-system-x86_64").ok_or(TestbedError::QemuMissing)?;
        let qemu_version = qemu::version(&qemu)?;
        let busybox = find_busybox()?;
        let kernel = match which {
            GuestKernel::Cloud => kernel::locate()?,
            GuestKernel::Lts612 => crate::kernel_build::lts612()?,
        };
        tracing::info!(release = %kernel.release, image = %kernel.image.display(), "guest kernel ready");
        Ok(Testbed {
            kernel,
            qemu,
            qemu_version,
            busybox,
        })
    }

    /// The guest kernel's release, e.g. `7.3.4+deb13-cloud-amd64`.
    pub fn kernel_release(&self) -> &str {
        &self.kernel.release
    }

    /// QEMU's version, e.g. `10.0.2`: guest timing and TCG's bugs depend on it.
    pub fn qemu_version(&self) -> &str {
        &self.qemu_version
    }

    /// The kernel image that is booted.
    pub fn kernel_image(&self) -> &Path {
        &self.kernel.image
    }

    /// The kernel's config, when known (always for Debian's kernel).
    pub fn kernel_config(&self) -> Option<&Path> {
        self.kernel.config.as_deref()
    }

    /// Boots the guest, runs the scenario and returns what it reported. Fails if QEMU
    /// cannot run, the guest never reaches /init, or the boot outlives the timeout; with
    /// [`Scenario::boot_again_on_emulator_fault`], a boot that timed out or died of the
    /// emulator's stale-int3 race is booted once more, and only the second counts. A
    /// scenario that fails still returns its run (see `scenario_status`).
    pub fn run(&self, scenario: &Scenario) -> Result<GuestRun, TestbedError> {
        let first = self.boot_once(scenario);
        if !scenario.boot_again_on_emulator_fault {
            return first;
        }
        let (what, tail) = match &first {
            Err(TestbedError::Timeout { console_tail, .. }) => (
                format!("timed out after {:?}", scenario.timeout),
                console_tail.clone(),
            ),
            Ok(run) if run.died_of_stale_int3() => (
                "died of QEMU's stale-int3 race (`Oops: int3`)".to_string(),
                run.console_tail(),
            ),
            _ => return first,
        };
        eprintln!(
            "scenario `{}` {what}; booting it again. The first boot's last console lines:\n{tail}",
            scenario.name
        );
        self.boot_once(scenario)
    }

    fn boot_once(&self, scenario: &Scenario) -> Result<GuestRun, TestbedError> {
        let (_initrd, cmd) = self.prepare_boot(scenario)?;
        tracing::debug!(scenario = %scenario.name, ?cmd, "booting");
        // One guest at a time on this host, across processes: TCG guests sharing a
        // small host would skew each other's timing, and the scheduler's watchdog.
        let _one_guest = crate::paths::host_guest_lock()?;
        let captured = qemu::run_captured(
            cmd,
            scenario.timeout,
            scenario.echo,
            scenario.on_line.as_ref(),
        )?;
        let Some(status) = captured.status else {
            return Err(TestbedError::Timeout {
                scenario: scenario.name.clone(),
                after: scenario.timeout,
                console_tail: console_tail(&captured.console),
            });
        };
        let run = GuestRun::from_console(captured.console, captured.elapsed);
        if run.get("kernel").is_none() {
            return Err(if status.success() {
                TestbedError::GuestDidNotStart {
                    console_tail: run.console_tail(),
                }
            } else {
                TestbedError::QemuFailed {
                    status: status.to_string(),
                    stderr: captured.stderr.trim().to_string(),
                    console_tail: run.console_tail(),
                }
            });
        }
        tracing::info!(scenario = %scenario.name, elapsed = ?run.elapsed, status = ?run.scenario_status, "guest done");
        Ok(run)
    }

    /// Boots the guest on the caller's terminal with no time limit, for debugging: the
    /// scenario's script can `exec setsid cttyhack sh` to hand over a shell.
    pub fn run_interactive(&self, scenario: &Scenario) -> Result<ExitStatus, TestbedError> {
        let (_initrd, cmd) = self.prepare_boot(scenario)?;
        qemu::run_interactive(cmd)
    }

    /// The scenario's initramfs (in a temporary directory that must outlive the boot)
    /// and the QEMU command that boots it.
    fn prepare_boot(
        &self,
        scenario: &Scenario,
    ) -> Result<(tempfile::TempDir, std::process::Command), TestbedError> {
        let work = self.build_initrd(scenario)?;
        let shape = qemu::Shape {
            cpus: scenario.cpus,
            sockets: scenario.sockets,
            memory_mib: scenario.memory_mib,
        };
        let cmd = qemu::command(
            &self.qemu,
            &self.kernel.image,
            &work.path().join("initrd.cpio"),
            shape,
        );
        Ok((work, cmd))
    }

    /// Writes the scenario's initramfs into a fresh temporary directory (removed when the
    /// returned handle drops, after the boot).
    fn build_initrd(&self, scenario: &Scenario) -> Result<tempfile::TempDir, TestbedError> {
        let started = std::time::Instant::now();
        let work = tempfile::Builder::new()
            .prefix("mus-testbed-")
            .tempdir()
            .map_err(|e| TestbedError::io("creating a temporary directory for the initramfs", e))?;
        let mut image = Image::base(&self.busybox, &scenario.script);
        for bin in &scenario.binaries {
            let name = bin.file_name().ok_or_else(|| TestbedError::BadGuestPath {
                path: bin.display().to_string(),
                why: "a binary needs a file name",
            })?;
            if !bin.is_file() {
                return Err(TestbedError::io(
                    format!("adding binary {} to the guest", bin.display()),
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such file; build it first",
                    ),
                ));
            }
            let guest = format!("/bin/{}", name.to_string_lossy());
            check_guest_path(&guest)?;
            image.add_executable(bin, &guest, true, work.path())?;
        }
        for tool in &scenario.tools {
            let host = find_on_path(tool).ok_or_else(|| TestbedError::ToolMissing {
                tool: tool.clone(),
                package: hostbin::package_of(tool),
            })?;
            let guest = host.to_string_lossy().into_owned();
            check_guest_path(&guest)?;
            image.add_executable(&host, &guest, false, work.path())?;
        }
        for (host, guest) in &scenario.files {
            check_guest_path(guest)?;
            image.add_host_file(host, guest)?;
        }
        let initrd = work.path().join("initrd.cpio");
        image.write(&initrd)?;
        tracing::debug!(
            scenario = %scenario.name,
            bytes = std::fs::metadata(&initrd).map(|m| m.len()).unwrap_or(0),
            took = ?started.elapsed(),
            "initramfs built"
        );
        Ok(work)
    }
}

/// A statically linked busybox: MUS_VM_BUSYBOX, else `busybox` on PATH. The guest has no
/// libc of its own, so a dynamic one (Debian's `busybox` package) would not start.
pub(crate) fn find_busybox() -> Result<PathBuf, TestbedError> {
    let path = match std::env::var_os("MUS_VM_BUSYBOX") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => find_on_path("busybox").ok_or_else(|| TestbedError::BusyboxMissing {
            detail: "`busybox` is not on PATH".to_string(),
        })?,
    };
    match hostbin::classify_file(&path) {
        Ok(Kind::Static) => Ok(path),
        Ok(_) => Err(TestbedError::BusyboxMissing {
            detail: format!("{} is dynamically linked", path.display()),
        }),
        Err(e) => Err(TestbedError::BusyboxMissing {
            detail: e.to_string(),
        }),
    }
}
