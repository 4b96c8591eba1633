//! `cargo xtask vm-kernel`: make sure the guest kernel is there and say where.

use std::process::ExitCode;

use mus_testbed::{Testbed, cached_kernel_dir};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Drop the cached kernel first and download the current one from the archive.
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
    let testbed = Testbed::prepare()?;
    println!("release: {}", testbed.kernel_release());
    println!("image:   {}", testbed.kernel_image().display());
    match testbed.kernel_config() {
        Some(config) => println!(
            "config:  {} (has CONFIG_SCHED_CLASS_EXT=y)",
            config.display()
        ),
        None => println!("config:  unknown (MUS_VM_KERNEL_CONFIG not set; trusted as is)"),
    }
    if testbed.kernel_image().starts_with(&dir) {
        if let Ok(packages) = std::fs::read_to_string(dir.join("package")) {
            println!("from:    {}", packages.trim().replace('\n', ", "));
        }
    } else {
        println!("from:    MUS_VM_KERNEL");
    }
    Ok(ExitCode::SUCCESS)
}
