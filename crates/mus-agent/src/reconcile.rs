//! The watch daemon's decision, with no I/O: from what the pods ask for, what the
//! map holds and which entries the daemon owns, the writes and deletes that make the
//! map equal to the pods' wishes, and the owned set afterwards.
//!
//! Ownership: the daemon deletes only entries it wrote (or, with `--own-all`, every
//! entry no pod asks for), so a boost written by hand (`mus-agent boost`) survives.
//! The owned set lives in memory. After a restart it is re-derived by the rule
//! "an entry whose cgroup an annotated pod asks for is owned" (it is desired, so the
//! first pass takes it). What that rule cannot recover is an entry whose pod lost its
//! annotation, or left, while no daemon was running: it stays until `--own-all`, an
//! `unboost`, or the scheduler's map being re-created. A flag bit in the entry's
//! value would close that gap (see the report / writeups/cluster.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use mus_common::{CgroupId, Entry, Weight};

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
    /// The weight the map held before (`None`: a new entry).
    pub previous: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delete {
    pub cgroup: CgroupId,
    pub weight: u32,
}

/// The changes one pass makes. Deletes go first, so that a nearly full map has room
/// for the writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub deletes: Vec<Delete>,
    pub writes: Vec<Write>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.deletes.is_empty() && self.writes.is_empty()
    }
}

/// The changes that make `current` hold exactly `desired`, plus whatever is neither
/// desired nor owned (left alone unless `own_all`).
pub fn plan(
    desired: &Desired,
    current: &[Entry],
    owned: &BTreeSet<CgroupId>,
    own_all: bool,
) -> Plan {
    let now: BTreeMap<CgroupId, u32> = current.iter().map(|e| (e.cgroup, e.weight)).collect();
    let deletes = now
        .iter()
        .filter(|(id, _)| !desired.contains_key(id) && (own_all || owned.contains(id)))
        .map(|(&cgroup, &weight)| Delete { cgroup, weight })
        .collect();
    let writes = desired
        .iter()
        .filter(|(id, wish)| now.get(id) != Some(&wish.weight.get()))
        .map(|(&cgroup, wish)| Write {
            cgroup,
            weight: wish.weight,
            previous: now.get(&cgroup).copied(),
        })
        .collect();
    Plan { deletes, writes }
}

/// The owned set after a pass: every desired entry that is in the map now (its write
/// succeeded or none was needed; a failed write of an entry owned before stays
/// owned, it is still ours to retry), plus owned entries whose delete failed.
pub fn owned_after(
    desired: &Desired,
    owned_before: &BTreeSet<CgroupId>,
    failed_writes: &BTreeSet<CgroupId>,
    failed_deletes: &BTreeSet<CgroupId>,
) -> BTreeSet<CgroupId> {
    desired
        .keys()
        .filter(|id| !failed_writes.contains(id) || owned_before.contains(id))
        .chain(failed_deletes.iter().filter(|id| owned_before.contains(id)))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn entry(id: u64, weight: u32) -> Entry {
        Entry {
            cgroup: CgroupId(id),
            weight,
            flags: 0,
        }
    }

    fn ids(v: &[u64]) -> BTreeSet<CgroupId> {
        v.iter().copied().map(CgroupId).collect()
    }

    #[test]
    fn empty_map_gets_every_wish() {
        let desired = Desired::from([(CgroupId(1), wish("a", 4096)), (CgroupId(2), wish("b", 2048))]);
        let p = plan(&desired, &[], &BTreeSet::new(), false);
        assert!(p.deletes.is_empty());
        assert_eq!(
            p.writes,
            vec![
                Write { cgroup: CgroupId(1), weight: Weight::HIGH_DEFAULT, previous: None },
                Write { cgroup: CgroupId(2), weight: Weight::new(2048).expect("w"), previous: None },
            ]
        );
    }

    #[test]
    fn converged_map_needs_nothing() {
        let desired = Desired::from([(CgroupId(1), wish("a", 4096))]);
        let p = plan(&desired, &[entry(1, 4096), entry(9, 100)], &ids(&[1]), false);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn a_changed_weight_is_rewritten() {
        let desired = Desired::from([(CgroupId(1), wish("a", 8192))]);
        let p = plan(&desired, &[entry(1, 4096)], &ids(&[1]), false);
        assert_eq!(p.writes[0].previous, Some(4096));
        assert_eq!(p.writes[0].weight.get(), 8192);
    }

    #[test]
    fn only_owned_entries_are_deleted_unless_own_all() {
        let desired = Desired::new();
        let current = [entry(1, 4096), entry(2, 2048)];
        let p = plan(&desired, &current, &ids(&[1]), false);
        assert_eq!(p.deletes, vec![Delete { cgroup: CgroupId(1), weight: 4096 }]);
        assert!(p.writes.is_empty());
        let p = plan(&desired, &current, &ids(&[1]), true);
        assert_eq!(p.deletes.len(), 2, "--own-all removes hand-written entries");
    }

    #[test]
    fn a_hand_written_entry_a_pod_asks_for_is_taken_over() {
        // Same weight: no write, but it becomes owned (the re-derivation rule).
        let desired = Desired::from([(CgroupId(5), wish("a", 4096))]);
        let p = plan(&desired, &[entry(5, 4096)], &BTreeSet::new(), false);
        assert!(p.is_empty());
        let owned = owned_after(&desired, &BTreeSet::new(), &BTreeSet::new(), &BTreeSet::new());
        assert_eq!(owned, ids(&[5]));
    }

    #[test]
    fn owned_set_follows_failures() {
        let desired = Desired::from([(CgroupId(1), wish("a", 4096)), (CgroupId(2), wish("b", 4096))]);
        // 2's write failed (map full) and it was not ours before; 7's delete failed.
        let owned = owned_after(&desired, &ids(&[7, 8]), &ids(&[2]), &ids(&[7]));
        assert_eq!(owned, ids(&[1, 7]), "8 was deleted, 2 was never written");
        // A failed rewrite of an entry we own keeps it ours.
        let owned = owned_after(&desired, &ids(&[2]), &ids(&[2]), &BTreeSet::new());
        assert_eq!(owned, ids(&[1, 2]));
    }
}
