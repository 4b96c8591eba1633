//! The SCX_MUS VM test bed: boots a real sched_ext kernel under QEMU (TCG), because the
//! development and CI machines run kernels without sched_ext.
//!
//! A [`Scenario`] is a busybox sh script plus the host files it needs; [`Testbed::run`]
//! packs them into an initramfs, boots, and parses the `@@MUS <key> <value>` lines the
//! script prints on the serial console into a [`GuestRun`]. The project's scenarios share
//! a shell library ([`GUEST_LIB`], `guest/lib.sh`; [`Scenario::with_guest_lib`]), and the
//! project's binaries they run are built by [`build_workspace_bins`].
//!
//! ```no_run
//! use mus_testbed::{Scenario, Testbed};
//! let testbed = Testbed::prepare()?;
//! let run = testbed.run(&Scenario::new("hello", "echo \"@@MUS hello world\""))?;
//! assert_eq!(run.require("hello")?, "world");
//! # Ok::<(), mus_testbed::TestbedError>(())
//! ```
//!
//! Kernels: [`Testbed::prepare`] boots Debian's cloud kernel (7.3);
//! [`Testbed::prepare_kernel`]`(`[`GuestKernel::Lts612`]`)` a 6.12 LTS built from Debian's
//! source package and cached under [`kernels_cache_dir`] (`~/.cache/mus/kernels`).
//!
//! Environment: `MUS_VM_KERNEL` / `MUS_VM_KERNEL_CONFIG` (a kernel of your own, instead of
//! the cloud kernel), `MUS_KERNEL_CACHE` (where built kernels are kept),
//! `MUS_VM_CACHE` (cache dir), `MUS_VM_BUSYBOX` (a static busybox), `MUS_VM_ECHO=1`
//! (stream consoles to stderr), `MUS_VM_DEBIAN_MIRROR` / `MUS_VM_DEBIAN_SUITE`.

mod console;
mod cpio;
mod debian;
mod error;
mod guest_run;
mod hostbin;
mod image;
mod initramfs;
mod kconfig;
mod kernel;
mod kernel_build;
mod paths;
mod qemu;
mod scenario;
mod testbed;
mod workspace_bins;

pub use error::TestbedError;
pub use guest_run::{GuestRun, RESULT_MARKER};
pub use image::busybox_image_tar;
pub use kernel::GuestKernel;
pub use kernel_build::{LTS612_FRAGMENT, kernels_cache_dir};
pub use paths::{cache_dir, cached_kernel_dir, workspace_root};
pub use scenario::{GUEST_LIB, Scenario};
pub use testbed::Testbed;
pub use workspace_bins::build_workspace_bins;
