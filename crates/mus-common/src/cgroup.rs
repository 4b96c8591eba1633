//! cgroup v2 IDs: how a cgroup directory becomes the key of the map, and back.
//!
//! The kernel identifies a cgroup v2 by the ID of its kernfs node, which is also the
//! inode number of its directory under the cgroup2 mount. `stat` is therefore all it
//! takes, and the scheduler's BPF side reads the very same number from the task.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

/// Where cgroup v2 is mounted on every systemd-era distribution.
pub const CGROUP2_MOUNT: &str = "/sys/fs/cgroup";

/// A cgroup v2 ID (the key of the map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CgroupId(pub u64);

impl fmt::Display for CgroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path} does not exist")]
    NotFound { path: PathBuf },
    #[error(
        "{path} is not a cgroup v2 directory (it must be under the cgroup2 mount, {CGROUP2_MOUNT})"
    )]
    NotCgroup2 { path: PathBuf },
    #[error("process {pid} does not exist")]
    NoSuchProcess { pid: u32 },
    #[error(
        "process {pid} has no cgroup v2 membership in /proc/{pid}/cgroup (is the host on the unified cgroup hierarchy?)"
    )]
    NoUnifiedCgroup { pid: u32 },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl CgroupId {
    /// The ID of the cgroup v2 directory at `path`.
    pub fn of_path(path: &Path) -> Result<CgroupId, CgroupError> {
        let meta = fs::metadata(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => CgroupError::NotFound { path: path.into() },
            _ => CgroupError::Io {
                path: path.into(),
                source,
            },
        })?;
        let on_cgroup2 = statfs(path)
            .map(|st| st.filesystem_type() == CGROUP2_SUPER_MAGIC)
            .unwrap_or(false);
        if !meta.is_dir() || !on_cgroup2 {
            return Err(CgroupError::NotCgroup2 { path: path.into() });
        }
        Ok(CgroupId(meta.ino()))
    }
}

/// The cgroup v2 directory of process `pid`, from `/proc/<pid>/cgroup`, under the
/// cgroup2 mount `mount`.
pub fn cgroup_of_pid(pid: u32, mount: &Path) -> Result<PathBuf, CgroupError> {
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = fs::read_to_string(&file).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => CgroupError::NoSuchProcess { pid },
        _ => CgroupError::Io {
            path: file.clone(),
            source,
        },
    })?;
    let rel = unified_cgroup_path(&text).ok_or(CgroupError::NoUnifiedCgroup { pid })?;
    Ok(mount.join(rel.trim_start_matches('/')))
}

/// The unified-hierarchy path in a `/proc/<pid>/cgroup` text: the `0::` line.
fn unified_cgroup_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
}

/// Finds the directory under `mount` whose cgroup ID is `id`, to show a map entry by
/// name. Walks the tree, so it is for listing, not for hot paths; `None` when no
/// cgroup has that ID any more (a stale entry).
pub fn find_cgroup(mount: &Path, id: CgroupId) -> Option<PathBuf> {
    walk(mount).find(|(_, i)| *i == id).map(|(dir, _)| dir)
}

/// The cgroup at `root` and every cgroup below it, depth first, each with its ID (a
/// pod's own cgroup and its containers'). A directory that goes during the walk is
/// left out.
pub fn walk(root: &Path) -> impl Iterator<Item = (PathBuf, CgroupId)> {
    let mut pending = vec![root.to_path_buf()];
    std::iter::from_fn(move || {
        while let Some(dir) = pending.pop() {
            let Ok(meta) = fs::metadata(&dir) else {
                continue;
            };
            if let Ok(children) = fs::read_dir(&dir) {
                pending.extend(
                    children
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
            return Some((dir, CgroupId(meta.ino())));
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_line_is_found_among_v1_lines() {
        let text = "12:memory:/user.slice\n0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope\n";
        assert_eq!(
            unified_cgroup_path(text),
            Some("/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope")
        );
        assert_eq!(unified_cgroup_path("3:cpu:/x\n"), None);
    }

    #[test]
    fn a_plain_directory_is_not_a_cgroup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = CgroupId::of_path(dir.path()).unwrap_err();
        assert!(matches!(err, CgroupError::NotCgroup2 { .. }), "{err}");
        let err = CgroupId::of_path(&dir.path().join("gone")).unwrap_err();
        assert!(matches!(err, CgroupError::NotFound { .. }), "{err}");
    }

    #[test]
    fn find_cgroup_walks_to_the_inode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let leaf = dir.path().join("a/b/c");
        fs::create_dir_all(&leaf).expect("mkdir");
        let ino = fs::metadata(&leaf).expect("stat").ino();
        assert_eq!(find_cgroup(dir.path(), CgroupId(ino)), Some(leaf));
        assert_eq!(find_cgroup(dir.path(), CgroupId(u64::MAX)), None);
    }

    #[test]
    fn missing_process_is_named() {
        let err = cgroup_of_pid(u32::MAX, Path::new(CGROUP2_MOUNT)).unwrap_err();
        assert!(
            matches!(err, CgroupError::NoSuchProcess { pid: u32::MAX }),
            "{err}"
        );
    }
}
