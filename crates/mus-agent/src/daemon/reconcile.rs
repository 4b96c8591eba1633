//! The watch daemon's decision, with no I/O: from what the pods are granted and what
//! the map holds, the writes and deletes that make the map hold the grants.
//!
//! Ownership is in the map itself: every entry the daemon writes carries
//! `MUS_PRIO_F_WATCH` and its owner id (a hash of its node name) in the flags'
//! upper bits ([`PrioFlags::watch_by`]). The daemon deletes and rewrites only its
//! own entries (or, with `--own-all`, deletes every entry no pod is granted). An
//! entry someone else wrote (`mus-agent boost`, bpftool, a daemon with another
//! node name) is left alone even where a pod is granted that cgroup: it is a
//! [`Conflict`], reported, not overwritten. A restarted daemon knows its entries
//! from its first pass, including one whose pod lost its grant while no daemon ran.
use std::collections::BTreeMap;
use std::path::PathBuf;

use mus_common::{CgroupId, Entry, OwnerId, PrioFlags, Weight};

/// A pod, for logs and metric labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One pod's wish, resolved to its pod-level cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wish {
    pub pod: PodRef,
    pub path: PathBuf,
    pub weight: Weight,
}

/// What the pods ask for, by cgroup ID.
pub type Desired = BTreeMap<CgroupId, Wish>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write {
    pub cgroup: CgroupId,
    pub weight: Weight,
    /// The entry the map held (`None`: a new entry); the write happens only if
    /// it is still there ([`mus_common::PrioMap::compare_and_swap`]).
    pub previous: Option<Entry>,
}

/// A delete of `entry`, only if the map still holds it as it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delete {
    pub entry: Entry,
}

/// A cgroup a pod is granted whose entry someone else wrote: left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub entry: Entry,
}

/// The changes one pass makes. Deletes go first, so that a nearly full map has room
/// for the writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub deletes: Vec<Delete>,
    pub writes: Vec<Write>,
    pub conflicts: Vec<Conflict>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.deletes.is_empty() && self.writes.is_empty()
    }
}

/// Whether `entry` is the daemon `owner`'s: its owner bits, or those of an agent
/// that predates owner ids (0), whose entries a daemon on the node takes over.
pub fn is_ours(entry: &Entry, owner: OwnerId) -> bool {
    entry
        .watch_owner()
        .is_some_and(|o| o == owner.get() || o == 0)
}

/// The changes that make `current` hold exactly `desired` among `owner`'s entries.
/// Entries of others are never rewritten; they are deleted only with `own_all`,
/// when no pod is granted them.
pub fn plan(desired: &Desired, current: &[Entry], owner: OwnerId, own_all: bool) -> Plan {
    let now: BTreeMap<CgroupId, &Entry> = current.iter().map(|e| (e.cgroup, e)).collect();
    let ours = PrioFlags::watch_by(owner).bits();
    let deletes = current
        .iter()
        .filter(|e| !desired.contains_key(&e.cgroup) && (own_all || is_ours(e, owner)))
        .map(|&entry| Delete { entry })
        .collect();
    let mut writes = Vec::new();
    let mut conflicts = Vec::new();
    for (&cgroup, wish) in desired {
        match now.get(&cgroup) {
            None => writes.push(Write {
                cgroup,
                weight: wish.weight,
                previous: None,
            }),
            Some(&&e) if !is_ours(&e, owner) => conflicts.push(Conflict { entry: e }),
            // Ours with the right weight and our current owner bits: nothing to do.
            Some(&&e) if e.weight == wish.weight.get() && e.flags == ours => {}
            Some(&&e) => writes.push(Write {
                cgroup,
                weight: wish.weight,
                previous: Some(e),
            }),
        }
    }
    Plan {
        deletes,
        writes,
        conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "node-a";

    fn owner() -> OwnerId {
        OwnerId::of_node(OWNER)
    }

    fn wish(name: &str, weight: u32) -> Wish {
        Wish {
            pod: PodRef {
                namespace: "shop".into(),
                name: name.into(),
            },
            path: PathBuf::from(format!("/cg/{name}")),
            weight: Weight::new(weight.into()).expect("weight"),
        }
    }

    fn entry(id: u64, weight: u32, flags: PrioFlags) -> Entry {
        Entry {
            cgroup: CgroupId(id),
            weight,
            flags: flags.bits(),
        }
    }

    /// An entry this daemon wrote.
    fn ours(id: u64, weight: u32) -> Entry {
        entry(id, weight, PrioFlags::watch_by(owner()))
    }

    /// An entry written by `mus-agent boost`.
    fn cli(id: u64, weight: u32) -> Entry {
        entry(id, weight, PrioFlags::CLI)
    }

    #[test]
    fn empty_map_gets_every_wish() {
        let desired = Desired::from([
            (CgroupId(1), wish("a", 4096)),
            (CgroupId(2), wish("b", 2048)),
        ]);
        let p = plan(&desired, &[], owner(), false);
        assert!(p.deletes.is_empty() && p.conflicts.is_empty());
        assert_eq!(
            p.writes,
            vec![
                Write {
                    cgroup: CgroupId(1),
                    weight: Weight::HIGH_DEFAULT,
                    previous: None
                },
                Write {
                    cgroup: CgroupId(2),
                    weight: Weight::new(2048).expect("w"),
                    previous: None
                },
            ]
        );
    }

    #[test]
    fn converged_map_needs_nothing() {
        let desired = Desired::from([(CgroupId(1), wish("a", 4096))]);
        let p = plan(&desired, &[ours(1, 4096), cli(9, 100)], owner(), false);
        assert!(p.is_empty() && p.conflicts.is_empty(), "{p:?}");
    }

    #[test]
    fn a_changed_weight_is_rewritten_if_the_entry_is_unchanged() {
        let desired = Desired::from([(CgroupId(1), wish("a", 8192))]);
        let p = plan(&desired, &[ours(1, 4096)], owner(), false);
        assert_eq!(p.writes[0].previous, Some(ours(1, 4096)));
        assert_eq!(p.writes[0].weight.get(), 8192);
    }

    #[test]
    fn only_our_entries_are_deleted_unless_own_all() {
        // What a restarted daemon sees: its own entry 1, whose pod lost its grant
        // meanwhile, a CLI entry 2, and entry 3 of a daemon with another node name.
        let desired = Desired::new();
        let other = entry(3, 4096, PrioFlags::watch_by(OwnerId::of_node("node-b")));
        let current = [ours(1, 4096), cli(2, 2048), other];
        let p = plan(&desired, &current, owner(), false);
        assert_eq!(
            p.deletes,
            vec![Delete {
                entry: ours(1, 4096)
            }]
        );
        assert!(p.writes.is_empty());
        let p = plan(&desired, &current, owner(), true);
        assert_eq!(p.deletes.len(), 3, "--own-all removes everyone's entries");
    }

    #[test]
    fn an_entry_someone_else_wrote_is_a_conflict_not_a_write() {
        let desired = Desired::from([
            (CgroupId(5), wish("a", 4096)),
            (CgroupId(6), wish("b", 4096)),
        ]);
        let other = entry(6, 2048, PrioFlags::watch_by(OwnerId::of_node("node-b")));
        let p = plan(&desired, &[cli(5, 4096), other], owner(), false);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            p.conflicts,
            vec![
                Conflict {
                    entry: cli(5, 4096)
                },
                Conflict { entry: other }
            ]
        );
    }

    #[test]
    fn an_older_agents_entry_is_taken_over_with_our_owner_bits() {
        let legacy = entry(7, 4096, PrioFlags::WATCH);
        let desired = Desired::from([(CgroupId(7), wish("a", 4096))]);
        let p = plan(&desired, &[legacy], owner(), false);
        assert_eq!(
            p.writes,
            vec![Write {
                cgroup: CgroupId(7),
                weight: Weight::HIGH_DEFAULT,
                previous: Some(legacy)
            }]
        );
        let p = plan(&Desired::new(), &[legacy], owner(), false);
        assert_eq!(p.deletes, vec![Delete { entry: legacy }]);
    }
}
