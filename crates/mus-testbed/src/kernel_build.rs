//! Building the 6.12 LTS guest kernel from Debian's `linux-source-6.12` package, with the
//! config fragment kept in this crate (`kernel/6.12.config`) merged onto `allnoconfig`.
//!
//! Nodes run LTS kernels, and Debian ships no 6.12 image with sched_ext turned on, but it
//! ships the source. The result is cached outside the workspace (a `cargo clean` or a new
//! worktree must not cost a kernel build): under [`kernels_cache_dir`], in a directory named
//! for the source package's version and a hash of the fragment, so a security update of
//! the source or an edited fragment builds a new kernel and anything else reuses the old.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::error::TestbedError;
use crate::kernel::{Kernel, cached_entry};
use crate::paths::find_on_path;

/// The fragment: what the guest needs (console, initramfs, cgroups, BPF with BTF,
/// sched_ext), nothing else, so the build takes minutes rather than most of an hour.
pub const LTS612_FRAGMENT: &str = include_str!("../kernel/6.12.config");

const SOURCE_PACKAGE: &str = "linux-source-6.12";
const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
/// What the build needs besides a C toolchain: pahole (dwarves) makes the BTF that
/// sched_ext is verified against; flex, bison and bc run in kconfig and the build;
/// libelf-dev and libssl-dev are objtool's and the cert tools' headers.
const BUILD_PACKAGES: &str = "linux-source-6.12 dwarves flex bison bc libelf-dev libssl-dev";

/// Where built kernels are cached: `MUS_KERNEL_CACHE`, else `$XDG_CACHE_HOME/mus/kernels`,
/// else `~/.cache/mus/kernels`.
pub fn kernels_cache_dir() -> PathBuf {
    let env = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("MUS_KERNEL_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("mus/kernels")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/mus/kernels")))
        .unwrap_or_else(|| std::env::temp_dir().join("mus-kernels"))
}

/// The cached 6.12 kernel, built first if this source version and fragment have none.
/// Parallel tests on a cold cache wait on a lock while one of them builds.
pub(crate) fn lts612() -> Result<Kernel, TestbedError> {
    let version = source_version()?;
    let root = kernels_cache_dir();
    let entry = root.join(entry_name(&version, LTS612_FRAGMENT));
    fs::create_dir_all(&root).map_err(|e| {
        TestbedError::io(format!("creating the kernel cache {}", root.display()), e)
    })?;
    let lock_path = root.join(".lock");
    let lock = File::create(&lock_path)
        .map_err(|e| TestbedError::io(format!("creating {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| TestbedError::io(format!("locking {}", lock_path.display()), e))?;
    if let Some(kernel) = cached_entry(&entry)? {
        return Ok(kernel);
    }
    build(&version, &entry)?;
    cached_entry(&entry)?.ok_or_else(|| TestbedError::KernelBuild {
        step: "checking the built kernel".into(),
        detail: format!("{} is incomplete after the build", entry.display()),
    })
}

/// `6.12.117-1~deb12u1-<8 hex digits of the fragment's hash>`.
fn entry_name(source_version: &str, fragment: &str) -> String {
    let hash = Sha256::digest(fragment.as_bytes());
    let short: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{source_version}-{short}")
}

/// The installed source package's version, which names the cache entry.
fn source_version() -> Result<String, TestbedError> {
    if !Path::new(SOURCE_TARBALL).is_file() {
        return Err(TestbedError::KernelSourceMissing {
            tarball: SOURCE_TARBALL.into(),
            packages: BUILD_PACKAGES,
        });
    }
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", SOURCE_PACKAGE])
        .output()
        .map_err(|e| TestbedError::io("running dpkg-query", e))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        return Err(TestbedError::KernelSourceMissing {
            tarball: SOURCE_TARBALL.into(),
            packages: BUILD_PACKAGES,
        });
    }
    // A version may carry characters that are awkward in a path (`:` of an epoch).
    Ok(version.replace([':', '/'], "_"))
}

/// Unpacks the source next to `entry`, configures it from `allnoconfig` plus the
/// fragment, builds the bzImage at the lowest CPU priority, and fills `entry` with
/// `vmlinuz`, `config`, `build-seconds` and, last, `release`. The source tree (some
/// gigabytes with debug info) is removed afterwards.
fn build(version: &str, entry: &Path) -> Result<(), TestbedError> {
    for tool in ["make", "gcc", "pahole", "flex", "bison", "bc", "tar", "xz"] {
        if find_on_path(tool).is_none() {
            return Err(TestbedError::KernelSourceMissing {
                tarball: format!("{tool} (not on PATH)"),
                packages: BUILD_PACKAGES,
            });
        }
    }
    let started = Instant::now();
    let sibling = |suffix: &str| {
        let name = entry.file_name().unwrap_or_default().to_string_lossy();
        entry.with_file_name(format!("{name}.{suffix}"))
    };
    let work = sibling("build");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)
        .map_err(|e| TestbedError::io(format!("creating {}", work.display()), e))?;
    let log_path = sibling("log");
    eprintln!(
        "mus-testbed: building the 6.12 LTS guest kernel ({version}) in {}; this takes many \
         minutes once (log: {})",
        work.display(),
        log_path.display()
    );
    let log = File::create(&log_path)
        .map_err(|e| TestbedError::io(format!("creating {}", log_path.display()), e))?;
    let run = |what: &str, cmd: &mut Command| -> Result<(), TestbedError> {
        let out = log
            .try_clone()
            .map_err(|e| TestbedError::io("duplicating the build log", e))?;
        let err = log
            .try_clone()
            .map_err(|e| TestbedError::io("duplicating the build log", e))?;
        let status = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| TestbedError::io(format!("running {what}"), e))?;
        if status.success() {
            Ok(())
        } else {
            Err(TestbedError::KernelBuild {
                step: what.to_string(),
                detail: format!("{status}; see {}", log_path.display()),
            })
        }
    };

    run(
        "unpacking the source",
        Command::new("tar")
            .arg("-xf")
            .arg(SOURCE_TARBALL)
            .arg("-C")
            .arg(&work),
    )?;
    let src = work.join("linux-source-6.12");
    let fragment = work.join("mus.config");
    fs::write(&fragment, LTS612_FRAGMENT)
        .map_err(|e| TestbedError::io(format!("writing {}", fragment.display()), e))?;
    let make = |args: &[&str]| {
        let mut cmd = Command::new("make");
        cmd.arg("-C").arg(&src).args(args);
        cmd
    };
    run("make allnoconfig", &mut make(&["allnoconfig"]))?;
    run(
        "merging the config fragment",
        Command::new(src.join("scripts/kconfig/merge_config.sh"))
            .current_dir(&src)
            .args(["-m", ".config"])
            .arg(&fragment),
    )?;
    run("make olddefconfig", &mut make(&["olddefconfig"]))?;
    let config = fs::read_to_string(src.join(".config"))
        .map_err(|e| TestbedError::io("reading the generated .config", e))?;
    if let Some(option) = dropped_option(LTS612_FRAGMENT, &config) {
        return Err(TestbedError::KernelBuild {
            step: "configuring".into(),
            detail: format!(
                "{option} from kernel/6.12.config did not survive olddefconfig: one of its \
                 dependencies is missing from the fragment"
            ),
        });
    }
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    // nice 19: the build shares the machine with builds and guests that are timed.
    run(
        "building bzImage",
        Command::new("nice")
            .args(["-n", "19", "make", "-C"])
            .arg(&src)
            .arg(format!("-j{jobs}"))
            .arg("bzImage"),
    )?;
    let release = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&src)
        .arg("kernelrelease")
        .output()
        .map_err(|e| TestbedError::io("running make kernelrelease", e))?;
    let release = String::from_utf8_lossy(&release.stdout).trim().to_string();

    fs::create_dir_all(entry)
        .map_err(|e| TestbedError::io(format!("creating {}", entry.display()), e))?;
    let copy = |from: PathBuf, to: &str| {
        fs::copy(&from, entry.join(to))
            .map(drop)
            .map_err(|e| TestbedError::io(format!("copying {}", from.display()), e))
    };
    copy(src.join("arch/x86/boot/bzImage"), "vmlinuz")?;
    copy(src.join(".config"), "config")?;
    let seconds = started.elapsed().as_secs();
    write_file(&entry.join("build-seconds"), &format!("{seconds}\n"))?;
    write_file(&entry.join("release"), &format!("{release}\n"))?;
    eprintln!("mus-testbed: built {release} in {seconds} s");
    fs::remove_dir_all(&work)
        .map_err(|e| TestbedError::io(format!("removing {}", work.display()), e))
}

fn write_file(path: &Path, text: &str) -> Result<(), TestbedError> {
    File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| TestbedError::io(format!("writing {}", path.display()), e))
}

/// The first `CONFIG_X=y` line of `fragment` that `config` does not have: kconfig
/// silently drops an option whose dependencies are off.
fn dropped_option<'a>(fragment: &'a str, config: &str) -> Option<&'a str> {
    fragment
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("CONFIG_") && l.ends_with("=y"))
        .find(|wanted| !config.lines().any(|l| l.trim() == *wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fragment_turns_on_everything_the_test_bed_requires() {
        assert_eq!(crate::kconfig::missing_option(LTS612_FRAGMENT), None);
    }

    #[test]
    fn a_dropped_option_is_named() {
        let fragment = "# comment\nCONFIG_BPF=y\nCONFIG_SCHED_CLASS_EXT=y\nCONFIG_NR_CPUS=64\n";
        assert_eq!(
            dropped_option(fragment, "CONFIG_BPF=y\nCONFIG_SCHED_CLASS_EXT=y\n"),
            None
        );
        assert_eq!(
            dropped_option(
                fragment,
                "CONFIG_BPF=y\n# CONFIG_SCHED_CLASS_EXT is not set\n"
            ),
            Some("CONFIG_SCHED_CLASS_EXT=y")
        );
    }

    #[test]
    fn the_cache_entry_changes_with_the_source_and_the_fragment() {
        let a = entry_name("6.12.117-1~deb12u1", "CONFIG_BPF=y\n");
        assert!(a.starts_with("6.12.117-1~deb12u1-"), "{a}");
        assert_ne!(a, entry_name("6.12.118-1~deb12u1", "CONFIG_BPF=y\n"));
        assert_ne!(
            a,
            entry_name("6.12.117-1~deb12u1", "CONFIG_BPF=y\nCONFIG_NUMA=y\n")
        );
    }
}
