//! Container → cgroup by asking the container runtime (containerd) for the
//! container's main process and reading that process's cgroup.
//!
//! This is the authoritative answer (no naming convention involved), so it comes
//! first; the cgroup filesystem probe in `paths` is the fallback.

use std::future::Future;
use std::path::{Path, PathBuf};

use containerd_client::services::v1::GetRequest;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request};
use mus_common::CgroupError;
use mus_common::cgroup::cgroup_of_pid;

use crate::pod::ContainerId;

/// The containerd namespace the CRI plugin (kubelet's containers) lives in.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// Stock containerd first, then k3s's embedded one.
pub const DEFAULT_SOCKETS: &[&str] = &[
    "/run/containerd/containerd.sock",
    "/run/k3s/containerd/containerd.sock",
];

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("containerd unreachable at {}", join(tried))]
    Unreachable { tried: Vec<PathBuf> },
    #[error("containerd has no running task for container {id} (is it running?)")]
    NoTask { id: String },
    #[error("containerd at {socket} failed to look up container {id}: {message}")]
    Call {
        socket: PathBuf,
        id: String,
        message: String,
    },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Something that maps a container to its cgroup directory.
pub trait ContainerRuntime {
    /// Where it answers from (a socket), for messages.
    fn describe(&self) -> String;
    fn cgroup_of(
        &self,
        container: &ContainerId,
    ) -> impl Future<Output = Result<PathBuf, RuntimeError>> + Send;
}

/// A connected containerd.
pub struct Containerd {
    tasks: TasksClient<Channel>,
    socket: PathBuf,
    cgroup_root: PathBuf,
}

impl Containerd {
    /// Connects to the first socket that answers. `cgroup_root` is the cgroup2
    /// mount the task's `/proc/<pid>/cgroup` path is relative to.
    pub async fn connect(
        sockets: &[PathBuf],
        cgroup_root: &Path,
    ) -> Result<Containerd, RuntimeError> {
        for socket in sockets {
            // A missing socket is the common case on a non-containerd node: skip the
            // connect attempt (and its error) altogether.
            if !socket.exists() {
                continue;
            }
            match containerd_client::connect(socket).await {
                Ok(channel) => {
                    return Ok(Containerd {
                        tasks: TasksClient::new(channel),
                        socket: socket.clone(),
                        cgroup_root: cgroup_root.to_path_buf(),
                    });
                }
                Err(e) => tracing::debug!("containerd at {}: {e}", socket.display()),
            }
        }
        Err(RuntimeError::Unreachable {
            tried: sockets.to_vec(),
        })
    }

    /// The socket this connection answers on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The PID of the container's init process (its task).
    pub async fn task_pid(&self, id: &str) -> Result<u32, RuntimeError> {
        let mut request = Request::new(GetRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        });
        let namespace = K8S_NAMESPACE.parse().map_err(|_| RuntimeError::Call {
            socket: self.socket.clone(),
            id: id.to_string(),
            message: "invalid namespace metadata".into(),
        })?;
        request
            .metadata_mut()
            .insert("containerd-namespace", namespace);
        // The client is a cheap handle on a shared channel; cloning avoids `&mut self`.
        let response =
            self.tasks
                .clone()
                .get(request)
                .await
                .map_err(|status| match status.code() {
                    Code::NotFound => RuntimeError::NoTask { id: id.to_string() },
                    _ => RuntimeError::Call {
                        socket: self.socket.clone(),
                        id: id.to_string(),
                        message: status.message().to_string(),
                    },
                })?;
        match response.into_inner().process {
            Some(p) if p.pid != 0 => Ok(p.pid),
            _ => Err(RuntimeError::NoTask { id: id.to_string() }),
        }
    }
}

impl ContainerRuntime for Containerd {
    fn describe(&self) -> String {
        format!("containerd at {}", self.socket.display())
    }

    async fn cgroup_of(&self, container: &ContainerId) -> Result<PathBuf, RuntimeError> {
        let pid = self.task_pid(&container.id).await?;
        Ok(cgroup_of_pid(pid, &self.cgroup_root)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_sockets_are_unreachable_and_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sockets = vec![dir.path().join("a.sock"), dir.path().join("b.sock")];
        let Err(err) = Containerd::connect(&sockets, dir.path()).await else {
            panic!("connected to a socket that does not exist");
        };
        let msg = err.to_string();
        assert!(msg.contains("a.sock") && msg.contains("b.sock"), "{msg}");
    }

    #[tokio::test]
    async fn a_dead_socket_file_is_unreachable() {
        // A socket file whose listener is gone: what a crashed containerd leaves.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("containerd.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        let result = Containerd::connect(std::slice::from_ref(&path), dir.path()).await;
        assert!(matches!(result, Err(RuntimeError::Unreachable { .. })));
    }
}
