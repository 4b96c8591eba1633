//! Taking host executables into the guest: finding them, listing the shared libraries
//! they load (through `ldd`), and stripping debug info from our own binaries, whose
//! debug builds are mostly DWARF that the guest would only have to copy around.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::TestbedError;
use crate::paths::find_on_path;

/// What the first bytes of a file say about how to carry it into the guest.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Kind {
    /// Not ELF (a script, data): copied verbatim.
    Data,
    /// ELF without an interpreter: needs no libraries.
    Static,
    /// ELF with a PT_INTERP: needs the loader and the libraries `ldd` lists.
    Dynamic,
}

const PT_INTERP: u32 = 3;

/// Classifies an ELF image from its header and program headers. Anything that is not a
/// little-endian ELF64 we cannot parse is treated as dynamic, so ldd gets to decide.
pub(crate) fn classify(bytes: &[u8]) -> Kind {
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Kind::Data;
    }
    let parsed = (|| {
        if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
            return None; // not ELF64 little-endian
        }
        let u16_at =
            |o: usize| Some(u16::from_le_bytes(bytes.get(o..o + 2)?.try_into().ok()?) as usize);
        let phoff = u64::from_le_bytes(bytes.get(0x20..0x28)?.try_into().ok()?) as usize;
        let (phentsize, phnum) = (u16_at(0x36)?, u16_at(0x38)?);
        let mut dynamic = false;
        for i in 0..phnum {
            let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
            let p_type = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
            dynamic |= p_type == PT_INTERP;
        }
        Some(dynamic)
    })();
    match parsed {
        Some(false) => Kind::Static,
        _ => Kind::Dynamic,
    }
}

/// Classifies a host file by reading its first pages (program headers sit near the start).
pub(crate) fn classify_file(path: &Path) -> Result<Kind, TestbedError> {
    let mut head = Vec::with_capacity(16 * 1024);
    File::open(path)
        .and_then(|f| f.take(16 * 1024).read_to_end(&mut head))
        .map_err(|e| TestbedError::io(format!("reading {}", path.display()), e))?;
    Ok(classify(&head))
}

/// The absolute paths of the shared libraries (and the loader) in `ldd` output, or the
/// name of the first library that ldd could not find.
pub(crate) fn parse_ldd(output: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in output.lines().map(str::trim) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(name.trim().to_string());
                }
                rest
            }
            None => line,
        };
        // "/lib/x86_64-linux-gnu/libc.so.6 (0x...)"; the vDSO has no path and is skipped.
        if let Some(path) = target
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// The shared libraries a dynamic executable loads, per `ldd`.
pub(crate) fn shared_libs(binary: &Path) -> Result<Vec<PathBuf>, TestbedError> {
    let ldd = find_on_path("ldd").ok_or(TestbedError::ToolMissing {
        tool: "ldd".to_string(),
        package: Some("libc-bin"),
    })?;
    let out = Command::new(ldd)
        .arg(binary)
        .output()
        .map_err(|e| TestbedError::Command {
            command: format!("ldd {}", binary.display()),
            detail: e.to_string(),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(TestbedError::Command {
            command: format!("ldd {}", binary.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    parse_ldd(&stdout).map_err(|lib| TestbedError::MissingLibrary {
        binary: binary.to_path_buf(),
        lib,
    })
}

/// Writes `src` without its debug sections to `dst` (never modifying `src`).
pub(crate) fn strip_debug(src: &Path, dst: &Path) -> Result<(), TestbedError> {
    let objcopy = find_on_path("objcopy").ok_or(TestbedError::ToolMissing {
        tool: "objcopy".to_string(),
        package: Some("binutils"),
    })?;
    let out = Command::new(objcopy)
        .arg("--strip-debug")
        .arg(src)
        .arg(dst)
        .output()
        .map_err(|e| TestbedError::Command {
            command: format!("objcopy --strip-debug {}", src.display()),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(TestbedError::Command {
            command: format!("objcopy --strip-debug {}", src.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// The Debian package that ships a tool scenarios commonly ask for, to name it in errors.
pub(crate) fn package_of(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "bpftool" => "bpftool",
        "stress-ng" => "stress-ng",
        "cyclictest" | "hackbench" => "rt-tests",
        "perf" => "linux-perf",
        "redis-server" => "redis-server",
        "redis-benchmark" | "redis-cli" => "redis-tools",
        "containerd" | "ctr" => "containerd",
        "runc" => "runc",
        "sysbench" => "sysbench",
        "fio" => "fio",
        "schedtool" => "schedtool",
        "taskset" | "chrt" => "util-linux",
        "strace" => "strace",
        "jq" => "jq",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_output() {
        let out = "\tlinux-vdso.so.1 (0x00007f17553d7000)\n\
            \tlibelf.so.1 => /lib/x86_64-linux-gnu/libelf.so.1 (0x00007f1755322000)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1755115000)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f17553d9000)\n";
        assert_eq!(
            parse_ldd(out).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libelf.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert_eq!(
            parse_ldd("\tstatically linked\n").unwrap(),
            Vec::<PathBuf>::new()
        );
        assert_eq!(
            parse_ldd("\tlibbpf.so.1 => not found\n").unwrap_err(),
            "libbpf.so.1"
        );
    }

    fn elf64(with_interp: bool) -> Vec<u8> {
        let mut b = vec![0u8; 0x40 + 2 * 0x38];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        b[0x40..0x44].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        let second = if with_interp { PT_INTERP } else { 1 };
        b[0x78..0x7c].copy_from_slice(&second.to_le_bytes());
        b
    }

    #[test]
    fn classifies_elf_images() {
        assert_eq!(classify(b"#!/bin/sh\necho hi\n"), Kind::Data);
        assert_eq!(classify(&elf64(false)), Kind::Static);
        assert_eq!(classify(&elf64(true)), Kind::Dynamic);
        // Truncated program headers: let ldd decide.
        assert_eq!(classify(&elf64(false)[..0x50]), Kind::Dynamic);
    }

    #[test]
    fn classifies_real_host_binaries() {
        // /bin/sh is dynamic on every distribution this project builds on.
        assert_eq!(classify_file(Path::new("/bin/sh")).unwrap(), Kind::Dynamic);
    }
}
