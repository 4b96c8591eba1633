//! The watch daemon's decision, with no I/O: from what the pods ask for and what the
//! map holds, the writes and deletes that make the map equal to the pods' wishes.
//!
//! Ownership is in the map itself: every entry the daemon writes carries
//! `MUS_PRIO_F_WATCH` ([`PrioFlags::WATCH`]), and the daemon deletes only entries
//! with that flag (or, with `--own-all`, every entry no pod asks for). A boost
//! written by hand (`mus-agent boost`, flags 0) survives, and a restarted daemon
//! knows its entries from its first pass, including one whose pod lost its
//! annotation or left while no daemon ran.
use std::collections::BTreeMap;
use std::path::PathBuf;

use mus_common::{CgroupId, Entry, PrioFlags, Weight};

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

/// The changes that make `current` hold exactly `desired`, each desired entry
/// marked as the daemon's, plus whatever is neither desired nor the daemon's (left
/// alone unless `own_all`). A desired entry without the flag (written by hand, or
/// by an older agent) is rewritten with it: the daemon takes it over.
pub fn plan(desired: &Desired, current: &[Entry], own_all: bool) -> Plan {
    let now: BTreeMap<CgroupId, &Entry> = current.iter().map(|e| (e.cgroup, e)).collect();
    let deletes = current
        .iter()
        .filter(|e| !desired.contains_key(&e.cgroup) && (own_all || e.has(PrioFlags::WATCH)))
        .map(|e| Delete {
            cgroup: e.cgroup,
            weight: e.weight,
        })
        .collect();
    let writes = desired
        .iter()
        .filter(|(id, wish)| {
            now.get(id)
                .is_none_or(|e| e.weight != wish.weight.get() || !e.has(PrioFlags::WATCH))
        })
        .map(|(&cgroup, wish)| Write {
            cgroup,
            weight: wish.weight,
            previous: now.get(&cgroup).map(|e| e.weight),
        })
        .collect();
    Plan { deletes, writes }
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

    /// An entry the daemon wrote.
    fn ours(id: u64, weight: u32) -> Entry {
        Entry {
            cgroup: CgroupId(id),
            weight,
            flags: PrioFlags::WATCH.bits(),
        }
    }

    /// An entry written by hand (`mus-agent boost`, bpftool).
    fn hand(id: u64, weight: u32) -> Entry {
        Entry {
            cgroup: CgroupId(id),
            weight,
            flags: 0,
        }
    }

    #[test]
    fn empty_map_gets_every_wish() {
        let desired = Desired::from([
            (CgroupId(1), wish("a", 4096)),
            (CgroupId(2), wish("b", 2048)),
        ]);
        let p = plan(&desired, &[], false);
        assert!(p.deletes.is_empty());
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
        let p = plan(&desired, &[ours(1, 4096), hand(9, 100)], false);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn a_changed_weight_is_rewritten() {
        let desired = Desired::from([(CgroupId(1), wish("a", 8192))]);
        let p = plan(&desired, &[ours(1, 4096)], false);
        assert_eq!(p.writes[0].previous, Some(4096));
        assert_eq!(p.writes[0].weight.get(), 8192);
    }

    #[test]
    fn only_flagged_entries_are_deleted_unless_own_all() {
        // What a restarted daemon sees: its own entry 1, whose pod lost its
        // annotation meanwhile, and a hand-written 2; no memory of the last run.
        let desired = Desired::new();
        let current = [ours(1, 4096), hand(2, 2048)];
        let p = plan(&desired, &current, false);
        assert_eq!(
            p.deletes,
            vec![Delete {
                cgroup: CgroupId(1),
                weight: 4096
            }]
        );
        assert!(p.writes.is_empty());
        let p = plan(&desired, &current, true);
        assert_eq!(p.deletes.len(), 2, "--own-all removes hand-written entries");
    }

    #[test]
    fn a_hand_written_entry_a_pod_asks_for_is_taken_over() {
        // Same weight, but no flag: rewritten with it, so that it is the daemon's to
        // remove when the pod stops asking.
        let desired = Desired::from([(CgroupId(5), wish("a", 4096))]);
        let p = plan(&desired, &[hand(5, 4096)], false);
        assert!(p.deletes.is_empty());
        assert_eq!(
            p.writes,
            vec![Write {
                cgroup: CgroupId(5),
                weight: Weight::HIGH_DEFAULT,
                previous: Some(4096)
            }]
        );
        let p = plan(&Desired::new(), &[ours(5, 4096)], false);
        assert_eq!(
            p.deletes,
            vec![Delete {
                cgroup: CgroupId(5),
                weight: 4096
            }],
            "then it is ours"
        );
    }
}
