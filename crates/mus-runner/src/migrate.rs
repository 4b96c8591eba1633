//! What is pinned where the map goes, before loading: nothing, a map this build can
//! reuse as it is (a runner of this version died without unpinning), or a map of ours
//! from another version whose definition differs (value size, capacity, flags), which
//! libbpf cannot reuse. Such a map's entries are read now and copied into the new map
//! after load, which then replaces the old pin: an upgrade keeps every boost.
//!
//! Values are copied field by field in the only way that stays correct across
//! versions: `struct mus_cgroup_prio` only ever grows at the end (`weight` at 0, then
//! `flags`), so the bytes both layouts have are copied and a field the old layout
//! lacked reads 0, which every field defines as "default".

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapMut, MapType, OpenMapMut};
use mus_common::MAP_NAME;
use tracing::{info, warn};

use crate::pin;

/// The definition the new map will have, from the opened (not yet loaded) skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Definition {
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

impl Definition {
    pub fn of(map: &OpenMapMut) -> Definition {
        Definition {
            value_size: map.value_size(),
            max_entries: map.max_entries(),
            flags: map.map_flags(),
        }
    }

    fn of_pinned(map: &MapHandle) -> Result<Definition> {
        Ok(Definition {
            value_size: map.value_size(),
            max_entries: map.max_entries(),
            flags: map
                .info()
                .context("cannot read the pinned map's flags")?
                .info
                .map_flags,
        })
    }
}

/// What was found at the pin path.
pub enum Existing {
    Nothing,
    /// Same definition: libbpf reuses the map, entries and all.
    Reuse {
        entries: usize,
    },
    /// Another definition: these entries go into the new map.
    Migrate(OldMap),
}

/// The entries of a map pinned by a runner of another version.
pub struct OldMap {
    path: PathBuf,
    was: Definition,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Looks at `path`. A map of ours (a hash keyed by the u64 cgroup ID, named
/// `high_prio_cgroups`) is reused or migrated; anything else is refused rather than
/// overwritten.
pub fn inspect(path: &Path, new: Definition) -> Result<Existing> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Nothing),
        Err(e) => return Err(e).with_context(|| format!("cannot look at {}", path.display())),
        Ok(_) => {}
    }
    let refuse = |why: String| {
        anyhow::anyhow!(
            "{0} exists but is not the mus scheduler's map ({why}); if it is not needed, \
             note its entries (`bpftool map dump pinned {0}`) and remove it (`rm {0}`)",
            path.display()
        )
    };
    let map = MapHandle::from_pinned_path(path).map_err(|e| refuse(e.to_string()))?;
    let name = map.name().to_string_lossy().into_owned();
    if map.map_type() != MapType::Hash || map.key_size() != 8 {
        return Err(refuse(format!(
            "a {:?} with {}-byte keys, not a hash keyed by a u64 cgroup ID",
            map.map_type(),
            map.key_size()
        )));
    }
    // The kernel keeps 15 characters of a map's name.
    if name.is_empty() || !MAP_NAME.starts_with(&name) {
        return Err(refuse(format!("it is named {name:?}")));
    }
    let was = Definition::of_pinned(&map)?;
    if was == new {
        return Ok(Existing::Reuse {
            entries: map.keys().count(),
        });
    }
    let mut entries = Vec::new();
    for key in map.keys() {
        // An entry deleted while we walk is simply not there any more.
        if let Some(value) = map
            .lookup(&key, MapFlags::ANY)
            .with_context(|| format!("cannot read an entry of {}", path.display()))?
        {
            entries.push((key, value));
        }
    }
    Ok(Existing::Migrate(OldMap {
        path: path.to_path_buf(),
        was,
        entries,
    }))
}

/// An old value in the new layout: the bytes both have, then zeros.
fn translate(old: &[u8], new_size: usize) -> Vec<u8> {
    let mut value = vec![0u8; new_size];
    let common = old.len().min(new_size);
    value[..common].copy_from_slice(&old[..common]);
    value
}

impl OldMap {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Copies the entries into the freshly loaded `map`, pins it root-only next to the
    /// old pin and renames it over the old one, so that the path never lacks a map.
    /// Entries the new map has no room for are named in a warning.
    pub fn copy_and_replace(&self, map: &mut MapMut) -> Result<()> {
        let new_size = map.value_size() as usize;
        let mut lost = Vec::new();
        for (key, value) in &self.entries {
            if let Err(e) = map.update(key, &translate(value, new_size), MapFlags::ANY) {
                let id = key
                    .as_slice()
                    .try_into()
                    .map(u64::from_ne_bytes)
                    .unwrap_or(0);
                lost.push(format!("{id} ({e})"));
            }
        }
        let file_name = self
            .path
            .file_name()
            .context("the pin path has no file name")?;
        // bpffs refuses names with a dot in them (reserved for its own files).
        let staging = self
            .path
            .with_file_name(format!("{}_migrating", file_name.to_string_lossy()));
        pin::remove(&staging)?;
        map.pin(&staging)
            .with_context(|| format!("cannot pin the migrated map at {}", staging.display()))?;
        pin::restrict(&staging)?;
        fs::rename(&staging, &self.path).with_context(|| {
            format!(
                "cannot move the migrated map from {} to {}",
                staging.display(),
                self.path.display()
            )
        })?;
        info!(
            pin = %self.path.display(),
            entries = self.entries.len() - lost.len(),
            old_value_size = self.was.value_size,
            old_max_entries = self.was.max_entries,
            "migrated the boosts from a map pinned by another version of mus-runner"
        );
        if !lost.is_empty() {
            warn!(
                "{} boosts did not fit the new map and were dropped: {}",
                lost.len(),
                lost.join(", ")
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shorter_old_value_keeps_its_fields_and_the_new_ones_read_zero() {
        let weight_only = 4096u32.to_ne_bytes();
        let value = translate(&weight_only, 8);
        assert_eq!(&value[..4], &4096u32.to_ne_bytes());
        assert_eq!(&value[4..], &[0; 4], "flags, which the old layout lacked");
    }

    #[test]
    fn a_longer_old_value_keeps_the_fields_this_version_knows() {
        let mut old = Vec::new();
        for field in [2048u32, 1, 77] {
            old.extend_from_slice(&field.to_ne_bytes());
        }
        assert_eq!(translate(&old, 8), old[..8]);
    }

    #[test]
    fn nothing_pinned_is_nothing_to_migrate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let new = Definition {
            value_size: 8,
            max_entries: 4096,
            flags: 0,
        };
        assert!(matches!(
            inspect(&dir.path().join("high_prio_cgroups"), new),
            Ok(Existing::Nothing)
        ));
    }

    #[test]
    fn a_file_that_is_no_map_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("high_prio_cgroups");
        fs::write(&path, "not a map").expect("write");
        let new = Definition {
            value_size: 8,
            max_entries: 4096,
            flags: 0,
        };
        let err = inspect(&path, new).err().expect("refused").to_string();
        assert!(err.contains("is not the mus scheduler's map"), "{err}");
        assert!(err.contains("rm "), "{err}");
    }
}
