//! What the operator asks to boost, and how it becomes one cgroup directory.
//!
//! `namespace/pod` boosts the pod-level cgroup (all containers, and the ones a
//! restart creates); `namespace/pod/container` boosts one container; `--cgroup`
//! and `--pid` need no Kubernetes at all.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use mus_common::CgroupError;
use mus_common::cgroup::cgroup_of_pid;

use crate::cgroup::resolve::{ResolveError, Resolver, Via};
use crate::kube::discovery::{Discovery, DiscoveryError};
use crate::pod::{ContainerRow, rows_of_pod};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Pod {
        namespace: String,
        pod: String,
    },
    Container {
        namespace: String,
        pod: String,
        container: String,
    },
    Cgroup(PathBuf),
    Pid(u32),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pod { namespace, pod } => write!(f, "pod {namespace}/{pod}"),
            Target::Container {
                namespace,
                pod,
                container,
            } => {
                write!(f, "container {namespace}/{pod}/{container}")
            }
            Target::Cgroup(path) => write!(f, "cgroup {}", path.display()),
            Target::Pid(pid) => write!(f, "process {pid}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "{0:?} is not a target: write namespace/pod or namespace/pod/container (or use --cgroup PATH, --pid PID)"
    )]
    Syntax(String),
    #[error("pod {namespace}/{pod} was not found")]
    PodNotFound { namespace: String, pod: String },
    #[error("pod {namespace}/{pod} has no container {container:?} (it has: {available})")]
    ContainerNotFound {
        namespace: String,
        pod: String,
        container: String,
        available: String,
    },
    #[error(
        "pod {namespace}/{pod} runs on node {other}, not on this node ({this}); run mus-agent there"
    )]
    NotOnThisNode {
        namespace: String,
        pod: String,
        other: String,
        this: String,
    },
    #[error("{what} is not running ({state})")]
    NotRunning { what: String, state: String },
    #[error("{0} must be under the cgroup mount {1}")]
    OutsideRoot(PathBuf, PathBuf),
    #[error(
        "refusing to boost {path}: it is {what}, and a boost there takes CPU from the rest of the node; boost one service or pod inside it, or pass --force if that is what you want"
    )]
    NodeWide { path: PathBuf, what: &'static str },
    #[error(transparent)]
    Discovery(DiscoveryError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

/// Parses the positional TARGET (`namespace/pod[/container]`).
pub fn parse(s: &str) -> Result<Target, TargetError> {
    let parts: Vec<&str> = s.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(TargetError::Syntax(s.into()));
    }
    match parts.as_slice() {
        [ns, pod] => Ok(Target::Pod {
            namespace: (*ns).into(),
            pod: (*pod).into(),
        }),
        [ns, pod, c] => Ok(Target::Container {
            namespace: (*ns).into(),
            pod: (*pod).into(),
            container: (*c).into(),
        }),
        _ => Err(TargetError::Syntax(s.into())),
    }
}

/// A target resolved to its cgroup directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub target: Target,
    pub path: PathBuf,
    pub via: Via,
    /// A fallback taken on the way (e.g. containerd unreachable).
    pub note: Option<String>,
}

impl Target {
    pub fn needs_kubernetes(&self) -> bool {
        matches!(self, Target::Pod { .. } | Target::Container { .. })
    }
}

/// Resolves `--cgroup` and `--pid` targets, which need no API server.
pub fn resolve_local(target: &Target, cgroup_root: &Path) -> Result<Resolved, TargetError> {
    let path = match target {
        Target::Cgroup(path) => cgroup_dir(path, cgroup_root)?,
        Target::Pid(pid) => cgroup_of_pid(*pid, cgroup_root)?,
        _ => return Err(TargetError::Syntax(target.to_string())),
    };
    Ok(Resolved {
        target: target.clone(),
        path,
        via: Via::CgroupFs,
        note: None,
    })
}

/// The QoS-class slices of kubepods, in the systemd and the cgroupfs layout: each
/// holds every pod of its class.
const QOS_SLICES: [&str; 4] = [
    "kubepods.slice/kubepods-burstable.slice",
    "kubepods.slice/kubepods-besteffort.slice",
    "kubepods/burstable",
    "kubepods/besteffort",
];

/// What a node-wide cgroup is, if `path` (under the cgroup mount `root`) is one:
/// the root (every task on the node), a top-level slice (systemd's groupings:
/// system.slice, user.slice, machine.slice, kubepods.slice, ...), init.scope (PID
/// 1), cgroupfs' kubepods, or a QoS-class slice of kubepods (all pods of a class).
/// A top-level cgroup made by hand (`/sys/fs/cgroup/web`) is one group of tasks
/// like a service, not node-wide.
pub fn node_wide(path: &Path, root: &Path) -> Option<&'static str> {
    let relative = path.strip_prefix(root).ok()?;
    let top = relative.to_str().unwrap_or_default();
    match relative.components().count() {
        0 => Some("the root cgroup (every task on the node)"),
        1 if top == "kubepods.slice" || top == "kubepods" => {
            Some("the slice of all the node's pods")
        }
        1 if top == "init.scope" => Some("the cgroup of the node's init (PID 1)"),
        1 if top.ends_with(".slice") => {
            Some("a top-level slice of the node (a group of many of its services)")
        }
        _ if QOS_SLICES.iter().any(|s| relative == Path::new(s)) => {
            Some("the slice of all the node's pods of one QoS class")
        }
        _ => None,
    }
}

/// Refuses a node-wide cgroup (see [`node_wide`]).
pub fn refuse_node_wide(resolved: &Resolved, root: &Path) -> Result<(), TargetError> {
    match node_wide(&resolved.path, root) {
        Some(what) => Err(TargetError::NodeWide {
            path: resolved.path.clone(),
            what,
        }),
        None => Ok(()),
    }
}

/// `--cgroup` accepts a path under the mount or relative to it (as
/// `/proc/<pid>/cgroup` prints it, with or without the leading `/`).
fn cgroup_dir(given: &Path, root: &Path) -> Result<PathBuf, TargetError> {
    if given.components().any(|c| c == Component::ParentDir) {
        return Err(TargetError::OutsideRoot(given.into(), root.into()));
    }
    let path = if given.starts_with(root) {
        given.to_path_buf()
    } else {
        root.join(given.strip_prefix("/").unwrap_or(given))
    };
    if path.is_dir() {
        Ok(path)
    } else {
        Err(CgroupError::NotFound { path }.into())
    }
}

/// Resolves a pod or container target through the API server, checking that it
/// is on this node and running.
pub async fn resolve_kube(
    target: &Target,
    discovery: &Discovery,
    resolver: &Resolver,
) -> Result<Resolved, TargetError> {
    let (namespace, pod_name, container) = match target {
        Target::Pod { namespace, pod } => (namespace, pod, None),
        Target::Container {
            namespace,
            pod,
            container,
        } => (namespace, pod, Some(container)),
        _ => return resolve_local(target, resolver.cgroup_root()),
    };
    let pod = discovery
        .get_pod(namespace, pod_name)
        .await
        .map_err(|e| match e {
            DiscoveryError::NotFound { .. } => TargetError::PodNotFound {
                namespace: namespace.clone(),
                pod: pod_name.clone(),
            },
            e => TargetError::Discovery(e),
        })?;
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    if node != discovery.node() {
        return Err(TargetError::NotOnThisNode {
            namespace: namespace.clone(),
            pod: pod_name.clone(),
            other: if node.is_empty() {
                "(none yet: it is not scheduled)".into()
            } else {
                node
            },
            this: discovery.node().into(),
        });
    }
    let rows = rows_of_pod(&pod);
    let resolution = match container {
        None => {
            let phase = rows.first().map(|r| r.phase.as_str()).unwrap_or("Unknown");
            if matches!(phase, "Succeeded" | "Failed") {
                return Err(TargetError::NotRunning {
                    what: target.to_string(),
                    state: phase.into(),
                });
            }
            let qos = rows.first().and_then(|r| r.qos);
            resolver.pod(&pod.metadata.uid.clone().unwrap_or_default(), qos)?
        }
        Some(name) => {
            let row = find_container(&rows, target, name)?;
            if !row.state.is_running() {
                return Err(TargetError::NotRunning {
                    what: target.to_string(),
                    state: row.state.to_string(),
                });
            }
            resolver.container(row).await?
        }
    };
    Ok(Resolved {
        target: target.clone(),
        path: resolution.path,
        via: resolution.via,
        note: resolution.note,
    })
}

fn find_container<'a>(
    rows: &'a [ContainerRow],
    target: &Target,
    name: &str,
) -> Result<&'a ContainerRow, TargetError> {
    rows.iter().find(|r| r.container == name).ok_or_else(|| {
        let Target::Container {
            namespace,
            pod,
            container,
        } = target.clone()
        else {
            return TargetError::Syntax(target.to_string());
        };
        let available = rows
            .iter()
            .map(|r| r.container.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        TargetError::ContainerNotFound {
            namespace,
            pod,
            container,
            available,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pod_and_container_targets() {
        assert_eq!(
            parse("default/web").ok(),
            Some(Target::Pod {
                namespace: "default".into(),
                pod: "web".into()
            })
        );
        assert_eq!(
            parse("kube-system/dns/coredns").ok(),
            Some(Target::Container {
                namespace: "kube-system".into(),
                pod: "dns".into(),
                container: "coredns".into()
            })
        );
        for bad in ["web", "a/b/c/d", "/web", "ns//c", ""] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains("namespace/pod"), "{bad}: {err}");
        }
    }

    #[test]
    fn cgroup_targets_are_relative_to_the_mount_and_must_exist() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("system.slice/redis.service");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for given in [PathBuf::from("/system.slice/redis.service"), dir.clone()] {
            let got = resolve_local(&Target::Cgroup(given), root.path()).expect("resolved");
            assert_eq!(got.path, dir);
        }
        let err = resolve_local(&Target::Cgroup("/nope".into()), root.path()).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = resolve_local(&Target::Cgroup("/a/../../etc".into()), root.path()).unwrap_err();
        assert!(matches!(err, TargetError::OutsideRoot(..)), "{err}");
    }

    #[test]
    fn node_wide_cgroups_are_the_root_top_level_slices_and_qos_slices() {
        let root = Path::new("/sys/fs/cgroup");
        for wide in [
            "",
            "init.scope",
            "system.slice",
            "user.slice",
            "machine.slice",
            "kubepods.slice",
            "kubepods",
            "kubepods.slice/kubepods-besteffort.slice",
            "kubepods/burstable",
        ] {
            assert!(node_wide(&root.join(wide), root).is_some(), "{wide}");
        }
        for one in [
            // A group made by hand, as the guest scenarios and the bench do.
            "web",
            "system.slice/redis.service",
            "user.slice/user-1000.slice/session-1.scope",
            "kubepods.slice/kubepods-pod1.slice",
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
            "kubepods/besteffort/pod1",
        ] {
            assert_eq!(node_wide(&root.join(one), root), None, "{one}");
        }
    }

    #[test]
    fn pid_targets_read_proc() {
        let root = Path::new("/sys/fs/cgroup");
        let got = resolve_local(&Target::Pid(std::process::id()), root);
        // Every process has a cgroup on a unified-hierarchy host; on a v1-only host
        // the error must say so rather than guess.
        match got {
            Ok(r) => assert!(r.path.starts_with(root)),
            Err(e) => assert!(e.to_string().contains("cgroup v2"), "{e}"),
        }
        let err = resolve_local(&Target::Pid(u32::MAX), root).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
