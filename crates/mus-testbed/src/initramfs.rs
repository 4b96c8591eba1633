//! Assembling the guest's initramfs: busybox, the generated /init, the scenario, and the
//! host files the scenario asked for with their shared libraries.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::cpio::CpioWriter;
use crate::error::TestbedError;
use crate::hostbin::{self, Kind};

const INIT: &str = include_str!("../guest/init.sh");

/// Guest directories that /init mounts over; files put there would be hidden.
const MOUNTED_OVER: &[&str] = &["/proc", "/sys", "/dev", "/run", "/tmp", "/var"];
/// Paths the test bed itself owns.
const RESERVED: &[&str] = &["/init", "/scenario.sh", "/bin/busybox", "/bin/sh"];

#[derive(Debug, Clone)]
enum Entry {
    Dir,
    File { source: Source, perm: u32 },
    Symlink(String),
    CharDev { major: u32, minor: u32 },
}

#[derive(Debug, Clone)]
enum Source {
    Host(PathBuf),
    Bytes(Vec<u8>),
}

/// The image's contents, keyed by guest path without the leading `/`. Sorted, so that a
/// directory is always written before what it contains.
#[derive(Debug, Default)]
pub(crate) struct Image {
    entries: BTreeMap<String, Entry>,
}

/// Checks a guest path a scenario asked for, so a file that /init would hide or that
/// would replace /init fails with a reason instead of vanishing.
pub(crate) fn check_guest_path(path: &str) -> Result<(), TestbedError> {
    let bad = |why| TestbedError::BadGuestPath {
        path: path.to_string(),
        why,
    };
    let p = Path::new(path);
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(bad("it must be absolute and without `..`"));
    }
    if p.parent().is_none() {
        return Err(bad("it names the root directory"));
    }
    if MOUNTED_OVER.iter().any(|m| p.starts_with(m)) {
        return Err(bad(
            "/init mounts proc, sysfs, devtmpfs or tmpfs over it; use a path under /opt or /root",
        ));
    }
    if RESERVED.iter().any(|r| p == Path::new(r)) {
        return Err(bad("the test bed itself provides it"));
    }
    Ok(())
}

impl Image {
    /// The skeleton every guest gets: busybox as /bin/sh, /init, /dev/console (the kernel
    /// opens it for init's stdio before devtmpfs exists) and the mount points.
    pub(crate) fn base(busybox: &Path, scenario_script: &str) -> Image {
        let mut image = Image::default();
        for dir in [
            "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp", "var",
            "root", "etc", "opt",
        ] {
            image.add(dir, Entry::Dir);
        }
        image.add("dev/console", Entry::CharDev { major: 5, minor: 1 });
        image.add(
            "bin/busybox",
            Entry::File {
                source: Source::Host(busybox.to_path_buf()),
                perm: 0o755,
            },
        );
        image.add("bin/sh", Entry::Symlink("busybox".to_string()));
        image.add(
            "init",
            Entry::File {
                source: Source::Bytes(INIT.as_bytes().to_vec()),
                perm: 0o755,
            },
        );
        image.add(
            "scenario.sh",
            Entry::File {
                source: Source::Bytes(scenario_script.as_bytes().to_vec()),
                perm: 0o755,
            },
        );
        // Tools that look users and groups up (containerd, ps) want these to exist.
        image.add(
            "etc/passwd",
            Entry::File {
                source: Source::Bytes(b"root:x:0:0:root:/root:/bin/sh\n".to_vec()),
                perm: 0o644,
            },
        );
        image.add(
            "etc/group",
            Entry::File {
                source: Source::Bytes(b"root:x:0:\n".to_vec()),
                perm: 0o644,
            },
        );
        image
    }

    /// A host file at `guest` (absolute), keeping its permission bits.
    pub(crate) fn add_host_file(&mut self, host: &Path, guest: &str) -> Result<(), TestbedError> {
        let meta = fs::metadata(host)
            .map_err(|e| TestbedError::io(format!("reading {}", host.display()), e))?;
        if !meta.is_file() {
            return Err(TestbedError::io(
                format!("adding {} to the guest", host.display()),
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        self.add(
            guest,
            Entry::File {
                source: Source::Host(host.to_path_buf()),
                perm: meta.permissions().mode() & 0o7777,
            },
        );
        Ok(())
    }

    /// An executable at `guest`, with the libraries it loads at their host paths. With
    /// `strip`, an ELF goes in without debug info, through a copy in `scratch`.
    pub(crate) fn add_executable(
        &mut self,
        host: &Path,
        guest: &str,
        strip: bool,
        scratch: &Path,
    ) -> Result<(), TestbedError> {
        let kind = hostbin::classify_file(host)?;
        let source = if strip && kind != Kind::Data {
            let stripped = scratch.join(format!("stripped-{}", self.entries.len()));
            hostbin::strip_debug(host, &stripped)?;
            stripped
        } else {
            host.to_path_buf()
        };
        self.add_host_file(&source, guest)?;
        if kind == Kind::Dynamic {
            for lib in hostbin::shared_libs(host)? {
                // fs::metadata follows symlinks: the guest gets the library itself at
                // the path the loader asks for (e.g. /lib64/ld-linux-x86-64.so.2).
                self.add_host_file(&lib, &lib.to_string_lossy())?;
            }
        }
        Ok(())
    }

    /// Adds an entry and any missing parent directories; a later entry replaces an
    /// earlier one at the same path (libraries shared by two binaries come in once).
    fn add(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').to_string();
        let mut parent = Path::new(&path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            self.entries
                .entry(dir.to_string_lossy().into_owned())
                .or_insert(Entry::Dir);
            parent = dir.parent();
        }
        self.entries.insert(path, entry);
    }

    /// Writes the image as an uncompressed newc cpio archive at `out`.
    pub(crate) fn write(&self, out: &Path) -> Result<(), TestbedError> {
        let io_err = |e| TestbedError::io(format!("writing the initramfs {}", out.display()), e);
        let file = File::create(out).map_err(io_err)?;
        let mut cpio = CpioWriter::new(BufWriter::with_capacity(1 << 20, file));
        for (path, entry) in &self.entries {
            match entry {
                Entry::Dir => cpio.dir(path, 0o755).map_err(io_err)?,
                Entry::Symlink(target) => cpio.symlink(path, target).map_err(io_err)?,
                Entry::CharDev { major, minor } => {
                    cpio.char_dev(path, 0o600, *major, *minor).map_err(io_err)?
                }
                Entry::File {
                    source: Source::Bytes(bytes),
                    perm,
                } => cpio
                    .file(path, *perm, bytes.len() as u64, bytes.as_slice())
                    .map_err(io_err)?,
                Entry::File {
                    source: Source::Host(host),
                    perm,
                } => {
                    let f = File::open(host)
                        .map_err(|e| TestbedError::io(format!("reading {}", host.display()), e))?;
                    let size = f
                        .metadata()
                        .map_err(|e| TestbedError::io(format!("reading {}", host.display()), e))?
                        .len();
                    cpio.file(path, *perm, size, f).map_err(io_err)?
                }
            }
        }
        cpio.finish().map_err(io_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::tests::read_newc;

    #[test]
    fn rejects_paths_init_would_hide_or_own() {
        for bad in [
            "relative",
            "/",
            "/tmp/x",
            "/var/lib/x",
            "/dev/x",
            "/init",
            "/opt/../tmp/x",
        ] {
            assert!(check_guest_path(bad).is_err(), "{bad} accepted");
        }
        for good in [
            "/opt/image.tar",
            "/root/data",
            "/etc/mus.conf",
            "/usr/local/bin/tool",
        ] {
            check_guest_path(good).unwrap();
        }
    }

    #[test]
    fn writes_parents_before_children_and_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("lib");
        fs::write(&host, b"ELF?").unwrap();
        let mut image = Image::base(Path::new("/bin/sh"), "echo hi\n");
        image
            .add_host_file(&host, "/lib/x86_64-linux-gnu/libc.so.6")
            .unwrap();
        image
            .add_host_file(&host, "/lib/x86_64-linux-gnu/libc.so.6")
            .unwrap();
        let out = dir.path().join("initrd");
        image.write(&out).unwrap();
        let entries = read_newc(&fs::read(&out).unwrap());
        let names: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
        let pos = |n: &str| {
            names
                .iter()
                .position(|x| *x == n)
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        assert!(pos("lib") < pos("lib/x86_64-linux-gnu"));
        assert!(pos("lib/x86_64-linux-gnu") < pos("lib/x86_64-linux-gnu/libc.so.6"));
        assert_eq!(
            names
                .iter()
                .filter(|n| **n == "lib/x86_64-linux-gnu/libc.so.6")
                .count(),
            1
        );
        let scenario = &entries[pos("scenario.sh")];
        assert_eq!(scenario.2, b"echo hi\n");
        assert!(entries[pos("init")].2.starts_with(b"#!/bin/busybox sh"));
        assert_eq!(entries[pos("dev/console")].3, (5, 1));
    }
}
