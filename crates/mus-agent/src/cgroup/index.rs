//! Which listed pod or container owns a cgroup: the link between the map (cgroup
//! IDs) and what the operator sees (pods).
//!
//! Listing uses the cgroup filesystem only (no runtime round trip per row), so a
//! table of hundreds of containers stays cheap to refresh.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mus_common::Entry;

use crate::cgroup::paths::{resolve_container, resolve_pod};
use crate::pod::ContainerRow;

/// The cgroup ID of a directory: its inode (see `mus_common::CgroupId`). Unlike
/// `CgroupId::of_path` this does not insist on cgroup2, because it only matches
/// directories already found under the cgroup root against map keys.
pub fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The cgroup directories of one row, where the filesystem has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowCgroups {
    pub pod: Option<PathBuf>,
    pub container: Option<PathBuf>,
}

pub fn row_cgroups(row: &ContainerRow, root: &Path) -> RowCgroups {
    let pod = resolve_pod(root, &row.cgroup_uid, row.qos).ok();
    let container = row
        .container_id
        .as_ref()
        .and_then(|cid| resolve_container(root, &row.cgroup_uid, row.qos, cid).ok());
    RowCgroups { pod, container }
}

/// How a row is boosted: through its own cgroup or its pod's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Boost {
    pub weight: u32,
    pub scope: Scope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Pod,
    Container,
}

impl RowCgroups {
    /// The row's boost given the map's weights by cgroup ID. A container entry wins
    /// over a pod entry: the scheduler applies the nearest boosted ancestor.
    pub fn boost(&self, weights: &HashMap<u64, u32>) -> Option<Boost> {
        let of = |path: &Option<PathBuf>| {
            path.as_deref()
                .and_then(inode)
                .and_then(|i| weights.get(&i).copied())
        };
        of(&self.container)
            .map(|weight| Boost {
                weight,
                scope: Scope::Container,
            })
            .or_else(|| {
                of(&self.pod).map(|weight| Boost {
                    weight,
                    scope: Scope::Pod,
                })
            })
    }
}

/// Who a map entry belongs to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Owner {
    Pod {
        namespace: String,
        pod: String,
    },
    Container {
        namespace: String,
        pod: String,
        container: String,
    },
    /// No listed pod, but the cgroup exists (a `--cgroup`/`--pid` boost, or a pod
    /// of a namespace we could not list).
    Cgroup {
        path: PathBuf,
    },
    /// The cgroup is gone: the entry only takes room in the map.
    Stale,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Pod { namespace, pod } => write!(f, "pod {namespace}/{pod}"),
            Owner::Container {
                namespace,
                pod,
                container,
            } => {
                write!(f, "container {namespace}/{pod}/{container}")
            }
            Owner::Cgroup { path } => write!(f, "cgroup {}", path.display()),
            Owner::Stale => f.write_str("stale (no such cgroup)"),
        }
    }
}

/// cgroup ID → owner, for every listed row's pod and container cgroups.
pub fn owners(rows: &[ContainerRow], root: &Path) -> HashMap<u64, Owner> {
    let mut owners = HashMap::new();
    for row in rows {
        let cgroups = row_cgroups(row, root);
        if let Some(ino) = cgroups.pod.as_deref().and_then(inode) {
            owners.entry(ino).or_insert_with(|| Owner::Pod {
                namespace: row.namespace.clone(),
                pod: row.pod.clone(),
            });
        }
        if let Some(ino) = cgroups.container.as_deref().and_then(inode) {
            owners.insert(
                ino,
                Owner::Container {
                    namespace: row.namespace.clone(),
                    pod: row.pod.clone(),
                    container: row.container.clone(),
                },
            );
        }
    }
    owners
}

/// Explains map entries: a listed pod or container, else a cgroup found by walking
/// the tree (`find`, normally `mus_common::cgroup::find_cgroup`), else stale.
pub fn explain(
    entries: &[Entry],
    owners: &HashMap<u64, Owner>,
    find: impl Fn(u64) -> Option<PathBuf>,
) -> Vec<(Entry, Owner)> {
    entries
        .iter()
        .map(|e| {
            let owner =
                owners
                    .get(&e.cgroup.0)
                    .cloned()
                    .unwrap_or_else(|| match find(e.cgroup.0) {
                        Some(path) => Owner::Cgroup { path },
                        None => Owner::Stale,
                    });
            (*e, owner)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::{ContainerId, ContainerState, QosClass};
    use mus_common::CgroupId;

    #[test]
    fn entries_are_explained_by_rows_then_paths_then_stale() {
        let root = tempfile::tempdir().expect("tempdir");
        let uid = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
        let pod_dir = root.path().join(format!("kubepods/burstable/pod{uid}"));
        let ctr_dir = pod_dir.join("c0ffee");
        let other = root.path().join("system.slice/redis.service");
        for d in [&ctr_dir, &other] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let row = ContainerRow {
            namespace: "shop".into(),
            pod: "cart".into(),
            pod_uid: uid.into(),
            cgroup_uid: uid.into(),
            container: "app".into(),
            phase: "Running".into(),
            qos: Some(QosClass::Burstable),
            container_id: ContainerId::parse("containerd://c0ffee"),
            state: ContainerState::Running,
        };
        let owners = owners(std::slice::from_ref(&row), root.path());
        let entry = |dir: &Path| Entry {
            cgroup: CgroupId(inode(dir).expect("ino")),
            weight: 4096,
            flags: 0,
        };
        let gone = Entry {
            cgroup: CgroupId(u64::MAX),
            weight: 2048,
            flags: 0,
        };
        let entries = [entry(&pod_dir), entry(&ctr_dir), entry(&other), gone];
        let find = |id| mus_common::cgroup::find_cgroup(root.path(), CgroupId(id));
        let got: Vec<Owner> = explain(&entries, &owners, find)
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        assert_eq!(
            got,
            vec![
                Owner::Pod {
                    namespace: "shop".into(),
                    pod: "cart".into()
                },
                Owner::Container {
                    namespace: "shop".into(),
                    pod: "cart".into(),
                    container: "app".into()
                },
                Owner::Cgroup { path: other },
                Owner::Stale,
            ]
        );
    }

    #[test]
    fn a_static_pod_is_found_through_its_mirror_pods_annotation() {
        use crate::pod::MIRROR_ANNOTATION;
        use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
        let root = tempfile::tempdir().expect("tempdir");
        let hash = "6a3f1c9e0b2d4f5a8c7e9d1b3a5f7c2e";
        let static_dir = root.path().join(format!("kubepods/burstable/pod{hash}"));
        std::fs::create_dir_all(&static_dir).expect("mkdir");
        let mirror = |annotation: &str| Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("etcd-node-a".into()),
                namespace: Some("kube-system".into()),
                uid: Some("1f2e3d4c-0000-4b5a-9c8d-7e6f5a4b3c2d".into()),
                annotations: Some([(MIRROR_ANNOTATION.to_string(), annotation.to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "etcd".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                qos_class: Some("Burstable".into()),
                ..Default::default()
            }),
        };
        let rows = crate::pod::rows_of_pod(&mirror(hash));
        // The API UID stays what `list --json` shows; the cgroup is the kubelet's.
        assert_eq!(rows[0].pod_uid, "1f2e3d4c-0000-4b5a-9c8d-7e6f5a4b3c2d");
        assert_eq!(row_cgroups(&rows[0], root.path()).pod, Some(static_dir));
        // A value that is not a kubelet hash is not followed.
        let rows = crate::pod::rows_of_pod(&mirror("../../system.slice"));
        assert_eq!(row_cgroups(&rows[0], root.path()).pod, None);
    }
}
