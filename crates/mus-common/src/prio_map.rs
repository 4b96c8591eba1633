//! A typed handle to the pinned `high_prio_cgroups` map.
//!
//! Keys are [`CgroupId`]s; values are the scheduler's `struct mus_cgroup_prio`,
//! encoded here from the bindgen view of `intf.h` (field offsets included), so a
//! change of the C struct changes this code's layout with it.

use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};

use libbpf_rs::{ErrorKind, MapCore, MapFlags, MapHandle, MapType};
use mus_bpf::intf::{self, mus_cgroup_prio};
use nix::unistd::AccessFlags;

use crate::{CgroupId, MAP_NAME, Weight};

const KEY_SIZE: usize = size_of::<u64>();
const VALUE_SIZE: usize = size_of::<mus_cgroup_prio>();
const WEIGHT_AT: usize = offset_of!(mus_cgroup_prio, weight);
const FLAGS_AT: usize = offset_of!(mus_cgroup_prio, flags);

/// Bits of an entry's `flags` (`enum mus_prio_flags`): who wrote it, so that the
/// tools never remove or rewrite each other's entries; the scheduler ignores them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrioFlags(u32);

impl PrioFlags {
    /// What bpftool and other tools write: nobody's in particular.
    pub const NONE: PrioFlags = PrioFlags(0);
    /// Written by `mus-agent watch`, which may remove the entry again.
    pub const WATCH: PrioFlags = PrioFlags(intf::mus_prio_flags_MUS_PRIO_F_WATCH);
    /// Written by `mus-agent boost` (or its TUI): an operator's, left alone by the daemon.
    pub const CLI: PrioFlags = PrioFlags(intf::mus_prio_flags_MUS_PRIO_F_CLI);

    /// [`PrioFlags::WATCH`] with `owner` in the owner bits.
    pub fn watch_by(owner: OwnerId) -> PrioFlags {
        PrioFlags(Self::WATCH.0 | (u32::from(owner.0) << intf::mus_prio_flags_MUS_PRIO_OWNER_SHIFT))
    }

    pub fn bits(self) -> u32 {
        self.0
    }
}

/// The owner bits of a daemon's entries: a 16-bit hash of its node name, never 0
/// (0 marks entries of an agent that predates owner ids). Two daemons with
/// different node names tell their entries apart; a collision (1 in 65535 for two
/// given names) makes them share, which the daemon's node check makes moot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId(u16);

impl OwnerId {
    /// FNV-1a of the name, folded to 16 bits: stable across builds and machines.
    pub fn of_node(name: &str) -> OwnerId {
        let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        match (hash >> 16) as u16 ^ hash as u16 {
            0 => OwnerId(1),
            id => OwnerId(id),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for OwnerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// One entry of the map, as stored. `weight` is raw: tools other than mus-common
/// (bpftool) may have written 0 (the runner's default high weight) or more than
/// [`Weight::MAX`] (clamped by the scheduler); so are `flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub cgroup: CgroupId,
    pub weight: u32,
    pub flags: u32,
}

impl Entry {
    /// Whether every bit of `flags` is set in this entry.
    pub fn has(&self, flags: PrioFlags) -> bool {
        self.flags & flags.0 == flags.0
    }

    /// The owner bits of a daemon's entry: `None` if no daemon wrote it,
    /// `Some(0)` for a daemon that predates owner ids.
    pub fn watch_owner(&self) -> Option<u16> {
        self.has(PrioFlags::WATCH).then_some(
            ((self.flags & intf::mus_prio_flags_MUS_PRIO_OWNER_MASK)
                >> intf::mus_prio_flags_MUS_PRIO_OWNER_SHIFT) as u16,
        )
    }

    /// Who wrote the entry, in words, for logs and refusals.
    pub fn writer(&self) -> String {
        match self.watch_owner() {
            Some(0) => "an older mus-agent watch".into(),
            Some(owner) => format!("mus-agent watch (owner id {:#06x})", owner),
            None if self.has(PrioFlags::CLI) => "mus-agent boost".into(),
            None => "another tool (bpftool?)".into(),
        }
    }
}

/// What a conditional change found ([`PrioMap::compare_and_swap`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swap {
    /// The entry was as expected and is now as asked.
    Done,
    /// Someone else changed the entry since it was read: nothing was changed, and
    /// this is what the map holds now (as far as one more read can tell).
    Lost(Option<Entry>),
}

#[derive(Debug, thiserror::Error)]
pub enum PrioMapError {
    #[error("no map is pinned at {path}: start mus-runner first (systemctl start mus-runner)")]
    NotPinned { path: PathBuf },
    #[error("permission denied opening {path}: the map is root-only, run this as root")]
    PermissionDenied { path: PathBuf },
    #[error(
        "the kernel refused bpf() on {path}, whose file mode lets this process in: a seccomp profile without bpf (in a container, use manifests/seccomp/mus-agent.json, see writeups/seccomp.md), or a kernel older than 6.5 that asks for CAP_BPF"
    )]
    BpfRefused { path: PathBuf },
    #[error("{path} is not the mus scheduler's map: {reason}")]
    NotOurMap { path: PathBuf, reason: String },
    #[error(
        "the map is full ({capacity} cgroups): unboost a cgroup first (`mus-agent status` lists them)"
    )]
    Full { capacity: u32 },
    #[error(
        "the entry of cgroup {} by {} (weight {}) changed just as it was swapped, and could not be put back: the map is full ({capacity} cgroups); its writer must write it again (a mus-agent watch does at its next pass)",
        .entry.cgroup, .entry.writer(), .entry.weight
    )]
    Dropped { entry: Entry, capacity: u32 },
    #[error("cannot {op} {path}: {source}")]
    Kernel {
        op: &'static str,
        path: PathBuf,
        source: libbpf_rs::Error,
    },
}

/// Why opening the pin at `path` was refused: EACCES (its mode) and EPERM (bpf()
/// itself refused) are one `PermissionDenied` to libbpf-rs, so ask the file's mode.
fn denied(path: &Path) -> PrioMapError {
    let mode_allows = nix::unistd::access(path, AccessFlags::R_OK | AccessFlags::W_OK).is_ok();
    if mode_allows {
        PrioMapError::BpfRefused { path: path.into() }
    } else {
        PrioMapError::PermissionDenied { path: path.into() }
    }
}

/// The pinned map, opened for reading and writing.
#[derive(Debug)]
pub struct PrioMap {
    map: MapHandle,
    path: PathBuf,
}

impl PrioMap {
    /// Opens the map pinned at `path` and checks that it is ours.
    pub fn open(path: &Path) -> Result<PrioMap, PrioMapError> {
        let map = MapHandle::from_pinned_path(path).map_err(|source| match source.kind() {
            ErrorKind::NotFound => PrioMapError::NotPinned { path: path.into() },
            ErrorKind::PermissionDenied => denied(path),
            _ => PrioMapError::Kernel {
                op: "open",
                path: path.into(),
                source,
            },
        })?;
        let prio_map = PrioMap {
            map,
            path: path.into(),
        };
        prio_map.check_layout()?;
        Ok(prio_map)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Capacity of the map, as the kernel created it.
    pub fn capacity(&self) -> u32 {
        self.map.max_entries()
    }

    fn check_layout(&self) -> Result<(), PrioMapError> {
        let name = self.map.name().to_string_lossy();
        // The kernel keeps 15 characters of a map's name.
        let problem = if self.map.map_type() != MapType::Hash {
            Some(format!("its type is {:?}, not a hash", self.map.map_type()))
        } else if self.map.key_size() as usize != KEY_SIZE
            || self.map.value_size() as usize != VALUE_SIZE
        {
            Some(format!(
                "its key/value sizes are {}/{} bytes, this build expects {KEY_SIZE}/{VALUE_SIZE} \
                 (a runner of another version pinned it)",
                self.map.key_size(),
                self.map.value_size()
            ))
        } else if name.is_empty() || !MAP_NAME.starts_with(name.as_ref()) {
            Some(format!("it is named {name:?}, not {MAP_NAME:?}"))
        } else {
            None
        };
        match problem {
            Some(reason) => Err(PrioMapError::NotOurMap {
                path: self.path.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    fn kernel_error(&self, op: &'static str) -> impl FnOnce(libbpf_rs::Error) -> PrioMapError {
        let path = self.path.clone();
        move |source| PrioMapError::Kernel { op, path, source }
    }

    /// Boosts (or re-weights) `cgroup` and its whole subtree, as `mus-agent boost`
    /// does ([`PrioFlags::CLI`]).
    pub fn set(&self, cgroup: CgroupId, weight: Weight) -> Result<(), PrioMapError> {
        self.set_with_flags(cgroup, weight, PrioFlags::CLI)
    }

    /// [`PrioMap::set`], marking the entry with `flags` (replacing any it had).
    pub fn set_with_flags(
        &self,
        cgroup: CgroupId,
        weight: Weight,
        flags: PrioFlags,
    ) -> Result<(), PrioMapError> {
        let value = encode(weight.get(), flags.bits());
        self.map
            .update(&cgroup.0.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|source| match source.kind() {
                ErrorKind::TooBig => PrioMapError::Full {
                    capacity: self.capacity(),
                },
                _ => self.kernel_error("write to")(source),
            })
    }

    /// Makes `cgroup`'s entry `new` (`None`: no entry) only if it is still
    /// `expected` (`None`: absent), as read before: another writer's change in
    /// between is never overwritten nor deleted.
    ///
    /// The kernel has no compare-and-swap for hash maps, so this is built from the
    /// two atomic operations it has: a lookup-and-delete (the entry as it was when
    /// removed) and an insert that fails if the key exists (BPF_NOEXIST). The
    /// cgroup is unboosted for the few microseconds between delete and insert.
    ///
    /// An entry that already differs is left alone: only a plain lookup precedes
    /// the delete, because a taken entry that is not the expected one must be put
    /// back, and in a full map another writer can take its slot first. Only a
    /// change in the microseconds between that lookup and the delete can still
    /// meet that; the entry is then reported lost ([`PrioMapError::Dropped`]).
    pub fn compare_and_swap(
        &self,
        cgroup: CgroupId,
        expected: Option<Entry>,
        new: Option<(Weight, PrioFlags)>,
    ) -> Result<Swap, PrioMapError> {
        let key = cgroup.0.to_ne_bytes();
        if let Some(expected) = expected {
            let now = self.get(cgroup)?;
            if now != Some(expected) {
                return Ok(Swap::Lost(now));
            }
            let taken = self
                .map
                .lookup_and_delete(&key)
                .map_err(self.kernel_error("delete from"))?
                .and_then(|v| decode(cgroup, &v));
            if taken != Some(expected) {
                if let Some(other) = taken
                    && !self.put_back(other)?
                {
                    return Err(PrioMapError::Dropped {
                        entry: other,
                        capacity: self.capacity(),
                    });
                }
                return Ok(Swap::Lost(self.get(cgroup)?));
            }
        }
        match new {
            None => Ok(Swap::Done),
            Some((weight, flags)) => {
                if self.insert_new(cgroup, weight.get(), flags.bits())? {
                    Ok(Swap::Done)
                } else {
                    Ok(Swap::Lost(self.get(cgroup)?))
                }
            }
        }
    }

    /// Puts back an entry taken by mistake; `false` if the map had no room left for
    /// it. If the cgroup has an entry again meanwhile, that newer one stays.
    fn put_back(&self, entry: Entry) -> Result<bool, PrioMapError> {
        match self.insert_new(entry.cgroup, entry.weight, entry.flags) {
            Ok(_) => Ok(true),
            Err(PrioMapError::Full { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Inserts an entry if `cgroup` has none; `false` if it has one (left as is).
    fn insert_new(&self, cgroup: CgroupId, weight: u32, flags: u32) -> Result<bool, PrioMapError> {
        match self.map.update(
            &cgroup.0.to_ne_bytes(),
            &encode(weight, flags),
            MapFlags::NO_EXIST,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) if e.kind() == ErrorKind::TooBig => Err(PrioMapError::Full {
                capacity: self.capacity(),
            }),
            Err(e) => Err(self.kernel_error("write to")(e)),
        }
    }

    /// Removes `cgroup`'s entry; `false` if it had none.
    pub fn remove(&self, cgroup: CgroupId) -> Result<bool, PrioMapError> {
        match self.map.delete(&cgroup.0.to_ne_bytes()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.kernel_error("delete from")(e)),
        }
    }

    /// The entry of `cgroup`, if it has one.
    pub fn get(&self, cgroup: CgroupId) -> Result<Option<Entry>, PrioMapError> {
        let value = self
            .map
            .lookup(&cgroup.0.to_ne_bytes(), MapFlags::ANY)
            .map_err(self.kernel_error("read"))?;
        Ok(value.and_then(|v| decode(cgroup, &v)))
    }

    /// Every entry, ordered by cgroup ID. Entries removed while the map is walked
    /// are skipped; entries added meanwhile may or may not be listed.
    pub fn entries(&self) -> Result<Vec<Entry>, PrioMapError> {
        let mut entries = Vec::new();
        for key in self.map.keys() {
            let Ok(raw) = <[u8; KEY_SIZE]>::try_from(key.as_slice()) else {
                continue;
            };
            if let Some(entry) = self.get(CgroupId(u64::from_ne_bytes(raw)))? {
                entries.push(entry);
            }
        }
        entries.sort_by_key(|e| e.cgroup);
        Ok(entries)
    }
}

fn encode(weight: u32, flags: u32) -> [u8; VALUE_SIZE] {
    let mut value = [0u8; VALUE_SIZE];
    value[WEIGHT_AT..WEIGHT_AT + 4].copy_from_slice(&weight.to_ne_bytes());
    value[FLAGS_AT..FLAGS_AT + 4].copy_from_slice(&flags.to_ne_bytes());
    value
}

fn decode(cgroup: CgroupId, value: &[u8]) -> Option<Entry> {
    let field = |at: usize| {
        value
            .get(at..at + 4)?
            .try_into()
            .ok()
            .map(u32::from_ne_bytes)
    };
    Some(Entry {
        cgroup,
        weight: field(WEIGHT_AT)?,
        flags: field(FLAGS_AT)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_round_trips_through_the_c_layout() {
        let bytes = encode(4096, 7);
        assert_eq!(bytes.len(), 8);
        assert_eq!(
            &bytes[..4],
            &4096u32.to_ne_bytes(),
            "weight is the first field"
        );
        assert_eq!(
            decode(CgroupId(9), &bytes),
            Some(Entry {
                cgroup: CgroupId(9),
                weight: 4096,
                flags: 7
            })
        );
        assert_eq!(decode(CgroupId(9), &bytes[..6]), None);
    }

    #[test]
    fn owner_ids_are_stable_nonzero_and_in_the_upper_bits() {
        let a = OwnerId::of_node("node-a");
        assert_eq!(a, OwnerId::of_node("node-a"));
        assert_ne!(a, OwnerId::of_node("node-b"));
        assert_ne!(OwnerId::of_node("").get(), 0);
        let flags = PrioFlags::watch_by(a).bits();
        assert_eq!(flags & 0xffff, 1, "only the WATCH bit below the owner");
        let entry = Entry {
            cgroup: CgroupId(1),
            weight: 4096,
            flags,
        };
        assert_eq!(entry.watch_owner(), Some(a.get()));
        let legacy = Entry { flags: 1, ..entry };
        assert_eq!(legacy.watch_owner(), Some(0));
        let cli = Entry { flags: 2, ..entry };
        assert_eq!(cli.watch_owner(), None);
        assert_eq!(cli.writer(), "mus-agent boost");
    }

    #[test]
    fn flags_come_from_the_c_enum() {
        assert_eq!(PrioFlags::WATCH.bits(), 1);
        assert_eq!(PrioFlags::CLI.bits(), 2);
        let entry = |flags| Entry {
            cgroup: CgroupId(1),
            weight: 4096,
            flags,
        };
        assert!(entry(3).has(PrioFlags::WATCH));
        assert!(!entry(2).has(PrioFlags::WATCH));
        assert!(entry(0).has(PrioFlags::NONE), "no bits asked, none missing");
    }

    #[test]
    fn missing_pin_says_to_start_the_runner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = PrioMap::open(&dir.path().join("high_prio_cgroups")).unwrap_err();
        assert!(matches!(err, PrioMapError::NotPinned { .. }), "{err}");
        assert!(err.to_string().contains("start mus-runner"), "{err}");
    }
}
