//! Opening a map of the scheduler's that mus-runner pins next to the boosts' map (the
//! counters, the wait histograms): nothing pinned is `None` (no runner running), and a
//! pin that is not of the expected kind is refused rather than misread.

use std::path::{Path, PathBuf};

use libbpf_rs::{ErrorKind, MapCore, MapHandle, MapType};

#[derive(Debug, thiserror::Error)]
pub enum PinnedMapError {
    #[error("{path} is not the mus scheduler's {what}: {reason}")]
    NotOurMap {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("cannot {op} {path}: {source}")]
    Kernel {
        op: &'static str,
        path: PathBuf,
        source: libbpf_rs::Error,
    },
}

impl PinnedMapError {
    /// Whether the kernel refused to open the pin for lack of privilege (the pins are
    /// root-only).
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, PinnedMapError::Kernel { source, .. } if source.kind() == ErrorKind::PermissionDenied)
    }
}

/// What a pinned map must be: its kind and key and value sizes, and what it is called
/// in messages.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub what: &'static str,
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
}

/// Opens the map pinned at `path` and checks that it is `expected`. `Ok(None)`: nothing
/// is pinned there.
pub fn open(path: &Path, expected: Expected) -> Result<Option<MapHandle>, PinnedMapError> {
    let map = match MapHandle::from_pinned_path(path) {
        Ok(map) => map,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PinnedMapError::Kernel {
                op: "open",
                path: path.into(),
                source,
            });
        }
    };
    if map.map_type() != expected.map_type
        || map.key_size() != expected.key_size
        || map.value_size() != expected.value_size
    {
        let reason = format!(
            "it is a {:?} with {}/{}-byte keys/values, not a {:?} of {}/{}",
            map.map_type(),
            map.key_size(),
            map.value_size(),
            expected.map_type,
            expected.key_size,
            expected.value_size
        );
        return Err(PinnedMapError::NotOurMap {
            path: path.into(),
            what: expected.what,
            reason,
        });
    }
    Ok(Some(map))
}

/// The error of a failed read of the map pinned at `path`.
pub fn read_error(path: &Path) -> impl FnOnce(libbpf_rs::Error) -> PinnedMapError {
    let path = path.to_path_buf();
    move |source| PinnedMapError::Kernel {
        op: "read",
        path,
        source,
    }
}
