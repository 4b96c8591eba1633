//! The scheduler's run-queue wait histograms per cgroup, read from their pin next to
//! the map (`mus_common::waits`), as intervals: each [`WaitSampler::sample`] gives what
//! happened since the one before. A pod's waits are those of its cgroup and of every
//! cgroup below it (its containers), added up ([`pod_waits`]).

use std::path::{Path, PathBuf};

use mus_common::waits::{CgroupWaits, PinnedWaits, Waits, WaitsError};
use mus_common::waits_pin_path;

#[derive(Debug, thiserror::Error)]
pub enum WaitSamplerError {
    #[error(
        "no wait histograms are pinned at {path}: start mus-runner first (one without \
         --no-wait-histograms records none)"
    )]
    NotPinned { path: PathBuf },
    #[error(
        "permission denied opening {path}: the scheduler's pins are root-only, run this as root"
    )]
    PermissionDenied { path: PathBuf },
    #[error(transparent)]
    Map(#[from] WaitsError),
}

/// The pinned histograms, opened once, and the last reading.
#[derive(Debug)]
pub struct WaitSampler {
    map: PinnedWaits,
    last: Option<Waits>,
}

impl WaitSampler {
    /// Opens the histograms pinned next to the map pinned at `pin_path`.
    pub fn open(pin_path: &Path) -> Result<WaitSampler, WaitSamplerError> {
        let path = waits_pin_path(pin_path);
        let map = Waits::open_pinned(&path).map_err(|e| {
            if e.is_permission_denied() {
                WaitSamplerError::PermissionDenied { path: path.clone() }
            } else {
                e.into()
            }
        })?;
        let map = map.ok_or(WaitSamplerError::NotPinned { path })?;
        Ok(WaitSampler { map, last: None })
    }

    /// Where the histograms are pinned.
    pub fn path(&self) -> &Path {
        self.map.path()
    }

    /// Every cgroup's waits since the previous sample; `None` on the first (there is no
    /// interval yet).
    pub fn sample(&mut self) -> Result<Option<Waits>, WaitSamplerError> {
        let now = self.map.read()?;
        let delta = self.last.as_ref().map(|before| now.since(before));
        self.last = Some(now);
        Ok(delta)
    }
}

/// The waits of the pod (or any cgroup) at `dir`: its own cgroup's and those of every
/// cgroup below it. A cgroup that goes while this walks is left out.
pub fn pod_waits(waits: &Waits, dir: &Path) -> CgroupWaits {
    waits.sum_of(mus_common::cgroup::walk(dir).map(|(_, id)| id))
}

#[cfg(test)]
mod tests {
    use mus_common::CgroupId;

    use super::*;

    #[test]
    fn without_a_runner_the_error_says_to_start_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = WaitSampler::open(&dir.path().join("high_prio_cgroups")).expect_err("no pin");
        let msg = err.to_string();
        assert!(
            matches!(err, WaitSamplerError::NotPinned { .. })
                && msg.contains("mus_cgroup_waits")
                && msg.contains("start mus-runner"),
            "{msg}"
        );
    }

    #[test]
    fn a_pods_waits_are_its_own_cgroups_and_its_containers_added_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pod = dir.path().join("pod");
        std::fs::create_dir_all(pod.join("container")).expect("mkdir");
        std::fs::create_dir(dir.path().join("neighbour")).expect("mkdir");
        let others = |n: u64| {
            let mut w = CgroupWaits::default();
            w.others.buckets[4] = n;
            w
        };
        let waits = Waits(
            [
                (ino(&pod), others(1)),
                (ino(&pod.join("container")), others(10)),
                (ino(&dir.path().join("neighbour")), others(100)),
            ]
            .into(),
        );
        assert_eq!(pod_waits(&waits, &pod).others.count(), 11);
        assert_eq!(
            pod_waits(&waits, &dir.path().join("gone")),
            CgroupWaits::default()
        );
    }

    /// A directory's inode number: its cgroup ID, were it on cgroup2.
    fn ino(path: &Path) -> CgroupId {
        use std::os::unix::fs::MetadataExt;
        CgroupId(std::fs::metadata(path).expect("stat").ino())
    }
}
