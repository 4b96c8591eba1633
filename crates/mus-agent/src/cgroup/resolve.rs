//! The resolution order: containerd first (authoritative), then the cgroup
//! filesystem (naming conventions), saying which one answered and why.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cgroup::containerd::{ContainerRuntime, Containerd, RuntimeError};
use crate::cgroup::paths::{self, CgroupPathError};
use crate::pod::{ContainerId, ContainerRow, QosClass};

/// Which source found the cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    Containerd(String),
    CgroupFs,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub path: PathBuf,
    pub via: Via,
    /// Why the preferred source was passed over, if it was.
    pub note: Option<String>,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Containerd(socket) => write!(f, "containerd at {socket}"),
            Via::CgroupFs => f.write_str("the cgroup filesystem"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    #[error("{}{found}", note.as_deref().map(|n| format!("{n}; ")).unwrap_or_default())]
    Fs {
        found: CgroupPathError,
        note: Option<String>,
    },
    #[error("container {0} has no container ID yet (it has not started)")]
    NoContainerId(String),
}

/// Resolves containers and pods of this node to cgroup directories.
pub struct Resolver {
    pub containerd_sockets: Vec<PathBuf>,
    pub cgroup_root: PathBuf,
}

impl Resolver {
    pub fn new(containerd_sockets: Vec<PathBuf>, cgroup_root: PathBuf) -> Resolver {
        Resolver {
            containerd_sockets,
            cgroup_root,
        }
    }

    pub fn cgroup_root(&self) -> &Path {
        &self.cgroup_root
    }

    /// The cgroup of one container: containerd when the kubelet says the runtime is
    /// containerd and it answers, else the cgroup filesystem.
    pub async fn container(&self, row: &ContainerRow) -> Result<Resolution, ResolveError> {
        let cid = row
            .container_id
            .as_ref()
            .ok_or_else(|| ResolveError::NoContainerId(row.target()))?;
        let note = if cid.runtime == "containerd" {
            match self.via_containerd(cid).await {
                Ok(res) => return Ok(res),
                // containerd answered "no such task": the container is not running,
                // and a stale cgroup directory on disk would be a wrong answer.
                Err(e @ RuntimeError::NoTask { .. }) => return Err(e.into()),
                Err(e) => Some(format!("{e}; resolved through the cgroup filesystem")),
            }
        } else {
            None
        };
        self.via_fs(row.cgroup_uid.as_str(), row.qos, Some(cid), note)
    }

    /// The pod-level cgroup (covers all containers of the pod, and their restarts).
    /// Only the filesystem knows pod cgroups; containerd knows containers.
    pub fn pod(&self, uid: &str, qos: Option<QosClass>) -> Result<Resolution, ResolveError> {
        self.via_fs(uid, qos, None, None)
    }

    async fn via_containerd(&self, cid: &ContainerId) -> Result<Resolution, RuntimeError> {
        let containerd = Containerd::connect(&self.containerd_sockets, &self.cgroup_root).await?;
        let path = containerd.cgroup_of(cid).await?;
        Ok(Resolution {
            path,
            // The socket only: Via's Display says "containerd at".
            via: Via::Containerd(containerd.socket().display().to_string()),
            note: None,
        })
    }

    fn via_fs(
        &self,
        uid: &str,
        qos: Option<QosClass>,
        cid: Option<&ContainerId>,
        note: Option<String>,
    ) -> Result<Resolution, ResolveError> {
        let found = match cid {
            Some(cid) => paths::resolve_container(&self.cgroup_root, uid, qos, cid),
            None => paths::resolve_pod(&self.cgroup_root, uid, qos),
        };
        match found {
            Ok(path) => Ok(Resolution {
                path,
                via: Via::CgroupFs,
                note,
            }),
            Err(found) => Err(ResolveError::Fs { found, note }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::ContainerState;

    #[tokio::test]
    async fn falls_back_to_the_filesystem_and_says_why() {
        let root = tempfile::tempdir().expect("tempdir");
        let uid = "0a1b2c3d-1111-2222-3333-444455556666";
        let dir = root
            .path()
            .join(format!("kubepods/besteffort/pod{uid}/abc123"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let resolver = Resolver::new(
            vec![root.path().join("containerd.sock")],
            root.path().into(),
        );
        let row = ContainerRow {
            namespace: "ns".into(),
            pod: "p".into(),
            pod_uid: uid.into(),
            cgroup_uid: uid.into(),
            container: "c".into(),
            phase: "Running".into(),
            qos: Some(QosClass::BestEffort),
            container_id: ContainerId::parse("containerd://abc123"),
            state: ContainerState::Running,
        };
        let res = resolver.container(&row).await.expect("resolved");
        assert_eq!(res.path, dir);
        assert_eq!(res.via, Via::CgroupFs);
        let note = res.note.expect("a note about containerd");
        assert!(
            note.starts_with("containerd unreachable at ")
                && note.ends_with("; resolved through the cgroup filesystem"),
            "{note}"
        );

        let no_id = ContainerRow {
            container_id: None,
            ..row
        };
        assert!(matches!(
            resolver.container(&no_id).await,
            Err(ResolveError::NoContainerId(_))
        ));
    }
}
