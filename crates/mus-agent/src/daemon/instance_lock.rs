//! One `mus-agent watch` per map. Two daemons writing one map undo each other's
//! work: with the same `--node` they share an owner id, so each deletes the entries
//! the other was granted from its own view of the cluster (30 writes and 30 deletes
//! in 20 s were measured on one map). The daemon therefore holds an exclusive
//! `flock` for as long as it runs, on a directory next to the pin, and a second
//! one stops at start naming the first.
//!
//! A directory, because bpffs holds no regular files (and no name with a dot:
//! `<pin>_watch_lock`); next to the pin, because that is the one filesystem every
//! daemon writing the map shares, whether it runs on the host or in a pod with only
//! the pin directory mounted (an abstract socket or a file under /run would be
//! per network namespace or per mount). The kernel drops the lock when the holder
//! exits, however it exits; the empty directory stays, harmless, for the next one.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Held for as long as the daemon runs; the lock goes with it.
#[derive(Debug)]
pub struct InstanceLock {
    _held: Flock<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another mus-agent watch ({holder}) already writes the map pinned at {pin}: two daemons on one map undo each other's boosts; stop that one first (it holds the lock {lock})"
    )]
    Held {
        pin: PathBuf,
        lock: PathBuf,
        holder: Holder,
    },
    #[error(
        "cannot take the single-instance lock {lock} next to the map's pin: {source} (the daemon needs write access to the pin's directory)"
    )]
    Io { lock: PathBuf, source: io::Error },
}

/// Who holds the lock, as far as this process can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Pid(u32),
    /// In another pid namespace (the host's daemon seen from a pod, or the other
    /// way round), or gone since.
    Unseen,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Pid(pid) => write!(f, "pid {pid}"),
            Holder::Unseen => write!(
                f,
                "its pid is not visible from here: another pid namespace, the host's or a pod's"
            ),
        }
    }
}

/// The lock directory of the map pinned at `pin`.
pub fn lock_path(pin: &Path) -> PathBuf {
    let mut name = pin.file_name().unwrap_or_default().to_os_string();
    name.push("_watch_lock");
    pin.with_file_name(name)
}

/// Takes the lock of the map pinned at `pin`, or says who has it. The pin need not
/// exist yet (the runner may start later); its directory is made, root-only, if
/// missing, as the runner makes it.
pub fn lock(pin: &Path) -> Result<InstanceLock, LockError> {
    let lock = lock_path(pin);
    let io_error = |source| LockError::Io {
        lock: lock.clone(),
        source,
    };
    match DirBuilder::new().recursive(true).mode(0o700).create(&lock) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error(e)),
    }
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY)
        .open(&lock)
        .map_err(io_error)?;
    match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
        Ok(held) => Ok(InstanceLock { _held: held }),
        Err((dir, nix::errno::Errno::EWOULDBLOCK)) => {
            let holder = dir
                .metadata()
                .ok()
                .and_then(|m| {
                    let locks = std::fs::read_to_string("/proc/locks").ok()?;
                    flock_holder(&locks, m.dev(), m.ino())
                })
                .map_or(Holder::Unseen, Holder::Pid);
            Err(LockError::Held {
                pin: pin.to_path_buf(),
                lock,
                holder,
            })
        }
        Err((_, errno)) => Err(io_error(errno.into())),
    }
}

/// The pid holding a `flock` on the file `dev`/`ino`, from the text of /proc/locks
/// (`1: FLOCK  ADVISORY  WRITE 1234 00:28:261024 0 EOF`: pid, then device in hex
/// and inode). `None` if no line has it, or its pid is 0: the kernel's answer for
/// a holder outside the reader's pid namespace.
fn flock_holder(proc_locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let want = format!(
        "{:02x}:{:02x}:{ino}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    proc_locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // A waiter's line has "->" after the number; holders' lines do not.
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, file, ..] if *file == want => {
                pid.parse().ok().filter(|&p| p != 0)
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_named_after_the_pin_without_a_dot() {
        assert_eq!(
            lock_path(Path::new("/sys/fs/bpf/mus/high_prio_cgroups")),
            Path::new("/sys/fs/bpf/mus/high_prio_cgroups_watch_lock")
        );
    }

    #[test]
    fn the_holder_is_read_from_proc_locks() {
        let dev = nix::sys::stat::makedev(0, 0x28);
        let locks = "1: POSIX  ADVISORY  WRITE 77 00:28:261024 0 EOF
2: FLOCK  ADVISORY  WRITE 8746 00:28:261024 0 EOF
2: -> FLOCK  ADVISORY  WRITE 9000 00:28:261024 0 EOF
3: FLOCK  ADVISORY  WRITE 6162 fe:00:5308714 0 EOF
";
        assert_eq!(flock_holder(locks, dev, 261024), Some(8746));
        assert_eq!(flock_holder(locks, dev, 5308714), None, "another device");
        let hidden = "1: FLOCK  ADVISORY  WRITE 0 00:28:261024 0 EOF\n";
        assert_eq!(flock_holder(hidden, dev, 261024), None);
    }

    #[test]
    fn a_second_lock_on_one_pin_is_refused_until_the_first_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pin = dir.path().join("mus/high_prio_cgroups");
        let first = lock(&pin).expect("the first lock");
        let err = lock(&pin).expect_err("a second lock");
        assert!(
            matches!(err, LockError::Held { holder: Holder::Pid(pid), .. } if pid == std::process::id()),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("(pid {})", std::process::id())),
            "{err}"
        );
        drop(first);
        lock(&pin).expect("free again once the holder is gone");
    }
}
