//! Locating a guest kernel: the user's own (MUS_VM_KERNEL), the cached one, or a fresh
//! download of Debian's cloud kernel (its config checked by `kconfig`).

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::TestbedError;
use crate::kconfig::check_config;
use crate::paths::{cache_dir, cached_kernel_dir};

/// Which kernel a guest boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuestKernel {
    /// Debian's trixie-backports cloud kernel (7.3 today), or `MUS_VM_KERNEL` if set.
    #[default]
    Cloud,
    /// 6.12 LTS, built here from Debian's `linux-source-6.12` (see `kernel_build`).
    Lts612,
}

/// A bootable kernel image, its config when known, and its release string.
#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    pub image: PathBuf,
    pub config: Option<PathBuf>,
    pub release: String,
}

/// Reads the release string that x86 bzImages carry in their setup header, so a kernel
/// given through MUS_VM_KERNEL can be named without booting it.
///
/// Boot protocol: "HdrS" at 0x202, and at 0x20E a 16-bit pointer (relative to 0x200) to a
/// NUL-terminated "<release> (<builder>) #1 ..." string.
pub(crate) fn bzimage_release(head: &[u8]) -> Option<String> {
    if head.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*head.get(0x20E)?, *head.get(0x20F)?]) as usize;
    let start = ptr + 0x200;
    let rest = head.get(start..)?;
    let end = rest.iter().position(|&b| b == 0 || b == b' ')?;
    let release = std::str::from_utf8(&rest[..end]).ok()?;
    (!release.is_empty()).then(|| release.to_string())
}

fn release_of_image(image: &Path) -> Option<String> {
    let mut head = Vec::with_capacity(64 * 1024);
    File::open(image)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .ok()?;
    bzimage_release(&head)
}

fn env_path(var: &'static str) -> Result<Option<PathBuf>, TestbedError> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => {
            let path = PathBuf::from(v);
            if path.is_file() {
                Ok(Some(path))
            } else {
                Err(TestbedError::EnvPathMissing { var, path })
            }
        }
        _ => Ok(None),
    }
}

/// Finds the kernel: MUS_VM_KERNEL, else the cache, else a download into the cache.
pub(crate) fn locate() -> Result<Kernel, TestbedError> {
    if let Some(image) = env_path("MUS_VM_KERNEL")? {
        let config = env_path("MUS_VM_KERNEL_CONFIG")?;
        match &config {
            Some(c) => check_config(c)?,
            None => eprintln!(
                "mus-testbed: note: MUS_VM_KERNEL={} is trusted to have sched_ext; set \
                 MUS_VM_KERNEL_CONFIG to its config to have that checked",
                image.display()
            ),
        }
        let release = release_of_image(&image).unwrap_or_else(|| {
            eprintln!(
                "mus-testbed: note: {} has no bzImage version string; its release is unknown",
                image.display()
            );
            "unknown".to_string()
        });
        return Ok(Kernel {
            image,
            config,
            release,
        });
    }

    let dir = cached_kernel_dir();
    fs::create_dir_all(&dir)
        .map_err(|e| TestbedError::io(format!("creating the kernel cache {}", dir.display()), e))?;
    // Tests run in parallel and may all call prepare() on a cold cache: one downloads,
    // the others wait on this lock and then find the cache filled.
    let lock_path = dir.join(".lock");
    let lock = File::create(&lock_path)
        .map_err(|e| TestbedError::io(format!("creating {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| TestbedError::io(format!("locking {}", lock_path.display()), e))?;

    if let Some(kernel) = cached_entry(&dir)? {
        return Ok(kernel);
    }
    crate::debian::fetch_into(&cache_dir().join("apt"), &dir)?;
    cached_entry(&dir)?.ok_or_else(|| TestbedError::KernelNotInPackage {
        packages: "(just downloaded)".to_string(),
        what: "complete kernel cache entry",
    })
}

/// The cached kernel in `dir`, if a complete entry exists. `release` is written last by
/// the downloader and the builder, so its presence marks an entry that was fully written.
pub(crate) fn cached_entry(dir: &Path) -> Result<Option<Kernel>, TestbedError> {
    let (image, config, release) = (dir.join("vmlinuz"), dir.join("config"), dir.join("release"));
    if !(image.is_file() && config.is_file() && release.is_file()) {
        return Ok(None);
    }
    check_config(&config)?;
    let release = fs::read_to_string(&release)
        .map_err(|e| TestbedError::io(format!("reading {}", release.display()), e))?
        .trim()
        .to_string();
    Ok(Some(Kernel {
        image,
        config: Some(config),
        release,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_release_from_a_bzimage_header() {
        let mut img = vec![0u8; 0x400];
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x20E..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        let s = b"7.3.4+deb13-cloud-amd64 (debian-kernel@lists.debian.org) #1\0";
        img[0x300..0x300 + s.len()].copy_from_slice(s);
        assert_eq!(
            bzimage_release(&img).as_deref(),
            Some("7.3.4+deb13-cloud-amd64")
        );
        assert_eq!(bzimage_release(&img[..0x100]), None);
        img[0x202] = b'X';
        assert_eq!(bzimage_release(&img), None);
    }
}
