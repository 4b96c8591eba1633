//! Container → cgroup directory from names alone, without asking the runtime.
//!
//! The kubelet names pod cgroups after the pod UID and QoS class, and the CRI runtime
//! names container cgroups after the container ID, in one of two layouts depending
//! on the kubelet's cgroup driver:
//!
//! ```text
//! systemd:  kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
//!           kubepods.slice/kubepods-pod<uid_>.slice/...            (Guaranteed: no QoS level)
//! cgroupfs: kubepods/burstable/pod<uid>/<id>
//!           kubepods/pod<uid>/<id>                                  (Guaranteed)
//! ```
//!
//! (systemd unit names cannot hold `-` inside a component, hence `<uid_>`: the UID
//! with `-` turned into `_`.) Rather than detect the driver and runtime, every
//! plausible name is probed under the cgroup mount and the first existing directory
//! wins: the names of the two layouts cannot collide, so probing is unambiguous.
//! k3s uses the same layouts, with cgroupfs's `kubepods` at the root of the mount.
//!
//! A static pod's cgroup is named after the kubelet's UID for it, a hash of its
//! manifest, not after the UID of its mirror pod, which the API server assigns: the
//! mirror pod carries the kubelet's in an annotation ([`crate::pod::cgroup_uid`]).
//!
//! IDs are directory inodes only on a cgroup2 mount ([`require_cgroup2`]).

use std::path::{Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

use crate::pod::{ContainerId, QosClass};

#[derive(Debug, thiserror::Error)]
pub enum CgroupPathError {
    #[error(
        "no cgroup for {what} under {root} (tried {tried} names for the systemd and cgroupfs drivers; is --cgroup-root the cgroup2 mount of this node?)"
    )]
    NotFound {
        what: String,
        root: PathBuf,
        tried: usize,
    },
    #[error("pod UID {0:?} is not a Kubernetes UID")]
    BadUid(String),
    #[error(
        "{root} is not a cgroup2 mount ({found}): the inode numbers of its directories are not cgroup IDs; pass --cgroup-root with the node's cgroup2 mount (/sys/fs/cgroup on a unified host, often /sys/fs/cgroup/unified on a hybrid one)"
    )]
    NotCgroup2 { root: PathBuf, found: String },
}

/// Refuses a cgroup root that is not a cgroup2 mount (by the filesystem's magic):
/// there, a directory's inode number is not the ID the scheduler reads from a task,
/// and on a hybrid host it can be an unrelated cgroup's.
pub fn require_cgroup2(root: &Path) -> Result<(), CgroupPathError> {
    let found = match statfs(root) {
        Ok(st) if st.filesystem_type() == CGROUP2_SUPER_MAGIC => return Ok(()),
        Ok(st) => format!("filesystem magic {:#x}", st.filesystem_type().0),
        Err(e) => format!("cannot statfs it: {e}"),
    };
    Err(CgroupPathError::NotCgroup2 {
        root: root.to_path_buf(),
        found,
    })
}

/// The QoS classes to try: the known one, or all when the pod status has none yet.
fn classes(qos: Option<QosClass>) -> Vec<QosClass> {
    match qos {
        Some(q) => vec![q],
        None => vec![
            QosClass::Burstable,
            QosClass::BestEffort,
            QosClass::Guaranteed,
        ],
    }
}

/// Refuses UIDs that could escape the cgroup root once joined into a path.
fn check_uid(uid: &str) -> Result<(), CgroupPathError> {
    let ok = !uid.is_empty() && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(CgroupPathError::BadUid(uid.to_string()))
    }
}

/// Candidate pod-level directories, relative to the cgroup mount, systemd first.
pub fn pod_candidates(uid: &str, qos: Option<QosClass>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let systemd_uid = uid.replace('-', "_");
    for class in classes(qos) {
        out.push(match class {
            QosClass::Guaranteed => {
                PathBuf::from(format!("kubepods.slice/kubepods-pod{systemd_uid}.slice"))
            }
            QosClass::Burstable => PathBuf::from(format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_uid}.slice"
            )),
            QosClass::BestEffort => PathBuf::from(format!(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{systemd_uid}.slice"
            )),
        });
    }
    for class in classes(qos) {
        out.push(match class {
            QosClass::Guaranteed => PathBuf::from(format!("kubepods/pod{uid}")),
            QosClass::Burstable => PathBuf::from(format!("kubepods/burstable/pod{uid}")),
            QosClass::BestEffort => PathBuf::from(format!("kubepods/besteffort/pod{uid}")),
        });
    }
    out
}

/// The systemd scope prefixes a runtime uses; all of them when the runtime is one
/// we do not know (a CRI shim may call itself anything).
fn scope_prefixes(runtime: &str) -> &'static [&'static str] {
    match runtime {
        "containerd" => &["cri-containerd"],
        "cri-o" | "crio" => &["crio"],
        "docker" => &["docker"],
        _ => &["cri-containerd", "crio", "docker"],
    }
}

/// Candidate container directories, relative to the cgroup mount.
pub fn container_candidates(uid: &str, qos: Option<QosClass>, cid: &ContainerId) -> Vec<PathBuf> {
    let prefixes = scope_prefixes(&cid.runtime);
    let id = &cid.id;
    let mut out = Vec::new();
    for pod in pod_candidates(uid, qos) {
        if pod.starts_with("kubepods.slice") {
            out.extend(prefixes.iter().map(|p| pod.join(format!("{p}-{id}.scope"))));
        } else {
            // cgroupfs: containerd and docker use the bare ID, CRI-O prefixes it.
            out.push(pod.join(id));
            out.extend(
                prefixes
                    .iter()
                    .filter(|p| **p == "crio")
                    .map(|p| pod.join(format!("{p}-{id}"))),
            );
        }
    }
    out
}

fn first_existing(root: &Path, candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().map(|c| root.join(c)).find(|p| p.is_dir())
}

/// The pod-level cgroup of pod `uid` under the cgroup mount `root`.
pub fn resolve_pod(
    root: &Path,
    uid: &str,
    qos: Option<QosClass>,
) -> Result<PathBuf, CgroupPathError> {
    check_uid(uid)?;
    let candidates = pod_candidates(uid, qos);
    first_existing(root, &candidates).ok_or_else(|| CgroupPathError::NotFound {
        what: format!("pod {uid}"),
        root: root.to_path_buf(),
        tried: candidates.len(),
    })
}

/// The cgroup of container `cid` of pod `uid` under the cgroup mount `root`.
pub fn resolve_container(
    root: &Path,
    uid: &str,
    qos: Option<QosClass>,
    cid: &ContainerId,
) -> Result<PathBuf, CgroupPathError> {
    check_uid(uid)?;
    let candidates = container_candidates(uid, qos, cid);
    first_existing(root, &candidates).ok_or_else(|| CgroupPathError::NotFound {
        what: format!("container {cid}"),
        root: root.to_path_buf(),
        tried: candidates.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const UID: &str = "1f2e3d4c-0000-4b5a-9c8d-7e6f5a4b3c2d";
    const ID: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904aabbccddeeff001122334455";

    fn cid(runtime: &str) -> ContainerId {
        ContainerId {
            runtime: runtime.into(),
            id: ID.into(),
        }
    }

    /// Builds `rel` under a fresh root, plus a decoy sibling so that a match is not
    /// just "the only directory there".
    fn tree(rel: &str) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join(rel);
        fs::create_dir_all(&path).expect("mkdir");
        fs::create_dir_all(path.with_file_name("decoy")).expect("mkdir decoy");
        (root, path)
    }

    #[test]
    fn systemd_driver_all_runtimes_and_classes() {
        let u = UID.replace('-', "_");
        let cases = [
            (
                "containerd",
                Some(QosClass::Burstable),
                format!(
                    "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope"
                ),
            ),
            (
                "cri-o",
                Some(QosClass::BestEffort),
                format!(
                    "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/crio-{ID}.scope"
                ),
            ),
            (
                "docker",
                Some(QosClass::Guaranteed),
                format!("kubepods.slice/kubepods-pod{u}.slice/docker-{ID}.scope"),
            ),
            (
                "containerd",
                None,
                format!("kubepods.slice/kubepods-pod{u}.slice/cri-containerd-{ID}.scope"),
            ),
        ];
        for (runtime, qos, rel) in cases {
            let (root, want) = tree(&rel);
            let got = resolve_container(root.path(), UID, qos, &cid(runtime));
            assert_eq!(got.ok(), Some(want), "{runtime} {qos:?}");
        }
    }

    #[test]
    fn cgroupfs_driver_all_runtimes_and_classes() {
        let cases = [
            (
                "containerd",
                Some(QosClass::Burstable),
                format!("kubepods/burstable/pod{UID}/{ID}"),
            ),
            (
                "docker",
                Some(QosClass::BestEffort),
                format!("kubepods/besteffort/pod{UID}/{ID}"),
            ),
            (
                "cri-o",
                Some(QosClass::Guaranteed),
                format!("kubepods/pod{UID}/crio-{ID}"),
            ),
            (
                "containerd",
                Some(QosClass::Guaranteed),
                format!("kubepods/pod{UID}/{ID}"),
            ),
        ];
        for (runtime, qos, rel) in cases {
            let (root, want) = tree(&rel);
            let got = resolve_container(root.path(), UID, qos, &cid(runtime));
            assert_eq!(got.ok(), Some(want), "{runtime} {qos:?}");
        }
    }

    #[test]
    fn pod_level_cgroup_for_both_drivers() {
        let u = UID.replace('-', "_");
        let cases = [
            (
                Some(QosClass::Burstable),
                format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice"),
            ),
            (
                Some(QosClass::Guaranteed),
                format!("kubepods.slice/kubepods-pod{u}.slice"),
            ),
            (
                Some(QosClass::BestEffort),
                format!("kubepods/besteffort/pod{UID}"),
            ),
            (None, format!("kubepods/pod{UID}")),
        ];
        for (qos, rel) in cases {
            let (root, want) = tree(&rel);
            assert_eq!(
                resolve_pod(root.path(), UID, qos).ok(),
                Some(want),
                "{qos:?}"
            );
        }
    }

    #[test]
    fn a_wrong_qos_class_does_not_match_another_pods_cgroup() {
        let (root, _) = tree(&format!("kubepods/burstable/pod{UID}/{ID}"));
        let err = resolve_container(
            root.path(),
            UID,
            Some(QosClass::BestEffort),
            &cid("containerd"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("no cgroup for container containerd://"),
            "{err}"
        );
        let other_pod = "00000000-0000-0000-0000-000000000000";
        assert!(resolve_pod(root.path(), other_pod, None).is_err());
    }

    #[test]
    fn only_a_cgroup2_mount_is_a_cgroup_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = require_cgroup2(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is not a cgroup2 mount"), "{err}");
        let err = require_cgroup2(&dir.path().join("gone")).unwrap_err();
        assert!(err.to_string().contains("cannot statfs"), "{err}");
    }

    #[test]
    fn path_escapes_are_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let err = resolve_pod(root.path(), "../../etc", None).unwrap_err();
        assert!(matches!(err, CgroupPathError::BadUid(_)), "{err}");
        assert_eq!(ContainerId::parse("containerd://../x"), None);
        assert_eq!(ContainerId::parse("no-scheme"), None);
    }
}
