//! Where things live on the host: the workspace, the VM cache and the cached kernel.

use std::path::{Path, PathBuf};

/// The workspace root, two levels above this crate (`crates/mus-testbed`).
///
/// Taken from the compile-time manifest dir so that tests, xtask and examples agree on it
/// whatever the current directory is.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// The test bed's cache: `MUS_VM_CACHE`, else `<workspace>/.cache/vm` (git-ignored).
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("MUS_VM_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join(".cache").join("vm"),
    }
}

/// The directory holding the cached kernel (`vmlinuz`, `config`, `release`).
pub fn cached_kernel_dir() -> PathBuf {
    cache_dir().join("kernel")
}

/// Finds an executable named `name` on PATH, then in the sbin directories, which a
/// non-root PATH often lacks although tools like bpftool live there.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Holds the host-wide guest lock (an exclusive `flock` on `/tmp/mus-testbed.lock`)
/// until dropped; blocks while another process's guest runs.
pub(crate) fn host_guest_lock() -> Result<nix::fcntl::Flock<std::fs::File>, crate::TestbedError> {
    let path = std::env::temp_dir().join("mus-testbed.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| crate::TestbedError::io(format!("open {}", path.display()), e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| {
        crate::TestbedError::io(format!("lock {}", path.display()), errno.into())
    })
}
