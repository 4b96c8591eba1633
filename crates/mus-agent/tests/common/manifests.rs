//! The files of `manifests/`, read as the tests of what they declare need them.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository's `manifests/` folder.
pub fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

/// The text of `manifests/<file>`.
pub fn text(file: &str) -> String {
    let path = manifests_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML documents of `manifests/<file>`, empty ones left out.
pub fn documents(file: &str) -> Vec<Value> {
    let text = text(file);
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}
