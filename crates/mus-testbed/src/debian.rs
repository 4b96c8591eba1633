//! Downloading Debian's cloud kernel with a private apt state.
//!
//! The machine's own apt configuration is never touched: our sources file, lists and
//! package cache live under `<cache>/apt`, and apt is pointed at them with `-o` options.
//! The kernel's package names move as the archive moves (7.3.4+deb13 today), so they are
//! resolved through the `linux-image-cloud-amd64` metapackage, never hard-coded.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::TestbedError;
use crate::kconfig::check_config;
use crate::paths::find_on_path;

const META_PACKAGE: &str = "linux-image-cloud-amd64";
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// Debian stable's kernels lack sched_ext; trixie-backports' cloud kernels have it.
const DEFAULT_SUITE: &str = "trixie-backports";
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Downloads the kernel into `kernel_dir` (`vmlinuz`, `config`, `package`, then `release`
/// last, which marks the entry complete), using `apt_dir` for apt's private state.
pub(crate) fn fetch_into(apt_dir: &Path, kernel_dir: &Path) -> Result<(), TestbedError> {
    for (tool, package) in [
        ("apt-get", "apt"),
        ("apt-cache", "apt"),
        ("dpkg-deb", "dpkg"),
    ] {
        if find_on_path(tool).is_none() {
            return Err(TestbedError::ToolMissing {
                tool: tool.to_string(),
                package: Some(package),
            });
        }
    }
    if !Path::new(KEYRING).is_file() {
        return Err(TestbedError::KeyringMissing {
            path: PathBuf::from(KEYRING),
        });
    }
    let mirror = env_or("MUS_VM_DEBIAN_MIRROR", DEFAULT_MIRROR);
    let suite = env_or("MUS_VM_DEBIAN_SUITE", DEFAULT_SUITE);
    eprintln!(
        "mus-testbed: downloading Debian's {suite} {META_PACKAGE} into {} (first run only)",
        kernel_dir.display()
    );

    let apt = PrivateApt::create(apt_dir, &mirror, &suite)?;
    apt.run(
        "apt-get",
        &["update"],
        None,
        &format!("running apt-get update for {suite}"),
    )?;

    let meta = apt.show(META_PACKAGE)?;
    let image = depends(&meta)
        .into_iter()
        .find(|d| d.starts_with("linux-image-") && d != META_PACKAGE)
        .ok_or_else(|| TestbedError::KernelNotInPackage {
            packages: META_PACKAGE.to_string(),
            what: "dependency on a versioned linux-image package",
        })?;
    let release = image.trim_start_matches("linux-image-").to_string();

    // The image package is thin nowadays: vmlinuz is in linux-binary-<rel> and the config
    // in linux-base-<rel>. Take every same-release dependency except the (large, unneeded)
    // modules and headers, so an older single-package layout works as well.
    let image_stanza = apt.show(&image)?;
    let mut packages: Vec<String> = vec![image.clone()];
    packages.extend(depends(&image_stanza).into_iter().filter(|d| {
        d.ends_with(&format!("-{release}"))
            && !d.starts_with("linux-modules-")
            && !d.starts_with("linux-headers-")
    }));
    let mut pinned = Vec::new();
    for package in &packages {
        let stanza = if *package == image {
            image_stanza.clone()
        } else {
            apt.show(package)?
        };
        let version = field(&stanza, "Version").unwrap_or_default();
        pinned.push(if version.is_empty() {
            package.clone()
        } else {
            format!("{package}={version}")
        });
    }

    let work = tempfile::Builder::new()
        .prefix("download-")
        .tempdir_in(apt_dir)
        .map_err(|e| {
            TestbedError::io(
                format!("creating a download dir in {}", apt_dir.display()),
                e,
            )
        })?;
    let args: Vec<&str> = std::iter::once("download")
        .chain(pinned.iter().map(String::as_str))
        .collect();
    apt.run(
        "apt-get",
        &args,
        Some(work.path()),
        &format!("downloading {}", pinned.join(" ")),
    )?;

    let root = work.path().join("root");
    let debs = fs::read_dir(work.path())
        .map_err(|e| TestbedError::io("listing downloaded packages", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"));
    for deb in debs {
        run_checked(
            Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
            &format!("unpacking {}", deb.display()),
        )?;
    }

    let find = |candidates: [PathBuf; 3], what: &'static str| {
        candidates
            .into_iter()
            .map(|c| root.join(c))
            .find(|p| p.is_file())
            .ok_or_else(|| TestbedError::KernelNotInPackage {
                packages: packages.join(", "),
                what,
            })
    };
    let modules = PathBuf::from("usr/lib/modules").join(&release);
    let vmlinuz = find(
        [
            modules.join("vmlinuz"),
            format!("boot/vmlinuz-{release}").into(),
            format!("lib/modules/{release}/vmlinuz").into(),
        ],
        "vmlinuz",
    )?;
    let config = find(
        [
            modules.join("config"),
            format!("boot/config-{release}").into(),
            format!("lib/modules/{release}/config").into(),
        ],
        "kernel config",
    )?;
    // Refuse to cache a kernel that cannot run sched_ext (Debian stable's, for one).
    check_config(&config)?;

    let put = |from: &Path, name: &str| {
        let to = kernel_dir.join(name);
        fs::copy(from, &to).map(|_| ()).map_err(|e| {
            TestbedError::io(format!("caching {} as {}", from.display(), to.display()), e)
        })
    };
    put(&vmlinuz, "vmlinuz")?;
    put(&config, "config")?;
    let write = |name: &str, text: String| {
        let to = kernel_dir.join(name);
        fs::write(&to, text).map_err(|e| TestbedError::io(format!("writing {}", to.display()), e))
    };
    write("package", format!("{}\n", pinned.join("\n")))?;
    write("release", format!("{release}\n"))?;
    eprintln!(
        "mus-testbed: cached kernel {release} ({})",
        pinned.join(", ")
    );
    Ok(())
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// apt pointed at a state directory of our own.
struct PrivateApt {
    options: Vec<String>,
}

impl PrivateApt {
    fn create(dir: &Path, mirror: &str, suite: &str) -> Result<Self, TestbedError> {
        let lists = dir.join("lists");
        let cache = dir.join("cache");
        for d in [
            lists.join("partial"),
            cache.join("archives").join("partial"),
        ] {
            fs::create_dir_all(&d)
                .map_err(|e| TestbedError::io(format!("creating {}", d.display()), e))?;
        }
        let sources = dir.join("sources.list");
        fs::write(
            &sources,
            format!("deb [signed-by={KEYRING}] {mirror} {suite} main\n"),
        )
        .map_err(|e| TestbedError::io(format!("writing {}", sources.display()), e))?;
        let options = [
            format!("Dir::Etc::SourceList={}", sources.display()),
            "Dir::Etc::SourceParts=-".to_string(),
            format!("Dir::State::Lists={}", lists.display()),
            format!("Dir::Cache={}", cache.display()),
            // Our files are root-owned and private; apt's _apt sandbox user could not
            // write them and would only warn and fall back anyway.
            "APT::Sandbox::User=root".to_string(),
            "Acquire::Languages=none".to_string(),
            // An unreachable mirror is an error, not a warning followed by "no packages".
            "APT::Update::Error-Mode=any".to_string(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect();
        Ok(PrivateApt { options })
    }

    fn run(
        &self,
        tool: &str,
        args: &[&str],
        cwd: Option<&Path>,
        step: &str,
    ) -> Result<String, TestbedError> {
        let mut cmd = Command::new(tool);
        cmd.arg("-q").args(&self.options).args(args);
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        run_checked(&mut cmd, step)
    }

    /// The candidate stanza of `package`.
    fn show(&self, package: &str) -> Result<String, TestbedError> {
        self.run(
            "apt-cache",
            &["show", "--no-all-versions", package],
            None,
            &format!("looking up {package}"),
        )
    }
}

/// Runs a command, returning stdout, or a Download error carrying its stderr.
fn run_checked(cmd: &mut Command, step: &str) -> Result<String, TestbedError> {
    let out = cmd.output().map_err(|e| TestbedError::Download {
        step: step.to_string(),
        stderr: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(TestbedError::Download {
            step: step.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The value of a deb822 field in one stanza, continuation lines joined.
fn field(stanza: &str, name: &str) -> Option<String> {
    let mut lines = stanza.lines();
    let first = lines.find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
    let mut value = first.trim().to_string();
    for cont in lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t')) {
        value.push(' ');
        value.push_str(cont.trim());
    }
    Some(value)
}

/// Package names in a stanza's Depends (every alternative, versions dropped).
fn depends(stanza: &str) -> Vec<String> {
    field(stanza, "Depends")
        .unwrap_or_default()
        .split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
        .map(|name| name.split(':').next().unwrap_or(name).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Verbatim from trixie-backports (November 2026).
    const META: &str = "Package: linux-image-cloud-amd64\nVersion: 7.3.4-1~bpo13+1\n\
        Depends: linux-base-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-image-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-modules-cloud-amd64 (= 7.3.4-1~bpo13+1)\n\
        Description: Linux for x86-64 cloud (meta-package)\n";
    const IMAGE: &str = "Package: linux-image-7.3.4+deb13-cloud-amd64\nVersion: 7.3.4-1~bpo13+1\n\
        Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1),\n \
        linux-binary-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-modules-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)\n";

    #[test]
    fn parses_depends_through_alternatives_and_continuations() {
        assert_eq!(
            depends(META),
            [
                "linux-base-cloud-amd64",
                "linux-image-7.3.4+deb13-cloud-amd64",
                "linux-modules-cloud-amd64"
            ]
        );
        let image = depends(IMAGE);
        assert_eq!(image.len(), 6);
        assert!(image.contains(&"linux-binary-7.3.4+deb13-cloud-amd64".to_string()));
        assert!(image.contains(&"initramfs-tools".to_string()));
        assert_eq!(field(IMAGE, "Version").as_deref(), Some("7.3.4-1~bpo13+1"));
        assert_eq!(field(IMAGE, "Missing"), None);
    }
}
