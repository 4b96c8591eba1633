//! `cargo xtask vm-kernel`: make sure a guest kernel is there (downloading or building
//! it the first time) and say where.

use std::process::ExitCode;

use mus_testbed::cached_kernel_dir;

use crate::guest_opts::KernelChoice;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which kernel: the cloud kernel is downloaded, 6.12 LTS is built from Debian's
    /// linux-source-6.12 with crates/mus-testbed/kernel/6.12.config.
    #[arg(long, value_enum, default_value_t)]
    kernel: KernelChoice,
    /// Drop the cached cloud kernel first and download the current one from the archive.
    #[arg(long)]
    refresh: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = cached_kernel_dir();
    if args.refresh {
        // Only the `release` marker needs to go: without it the entry counts as absent
        // and is downloaded and overwritten.
        let marker = dir.join("release");
        if marker.exists() {
            std::fs::remove_file(&marker)?;
        }
    }
    let testbed = args.kernel.prepare()?;
    println!("release: {}", testbed.kernel_release());
    println!("image:   {}", testbed.kernel_image().display());
    println!("qemu:    {}", testbed.qemu_version());
    match testbed.kernel_config() {
        Some(config) => println!(
            "config:  {} (has CONFIG_SCHED_CLASS_EXT=y)",
            config.display()
        ),
        None => println!("config:  unknown (MUS_VM_KERNEL_CONFIG not set; trusted as is)"),
    }
    let entry = testbed.kernel_image().parent().unwrap_or(&dir);
    if let Ok(seconds) = std::fs::read_to_string(entry.join("build-seconds")) {
        println!(
            "from:    linux-source-6.12, built here in {} s",
            seconds.trim()
        );
    } else if testbed.kernel_image().starts_with(&dir) {
        if let Ok(packages) = std::fs::read_to_string(dir.join("package")) {
            println!("from:    {}", packages.trim().replace('\n', ", "));
        }
    } else {
        println!("from:    MUS_VM_KERNEL");
    }
    Ok(ExitCode::SUCCESS)
}
