//! Container images without a registry: a docker-archive tarball (what `docker save`
//! writes) holding one layer with a static busybox, for `ctr image import` in the guest.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::TestbedError;

/// Writes a docker-archive image named `reference` (e.g. `docker.io/local/busybox:1`) to
/// `out`: one layer with the host's static busybox as `/bin/busybox` and `/bin/sh`
/// pointing at it, default command `/bin/sh`. Import it in the guest with
/// `ctr -n k8s.io image import --snapshotter native FILE`.
pub fn busybox_image_tar(out: &Path, reference: &str) -> Result<(), TestbedError> {
    let busybox = crate::testbed::find_busybox()?;
    let io = |what: &str, e| TestbedError::io(format!("{what} for the image {}", out.display()), e);
    let bytes = std::fs::read(&busybox).map_err(|e| io("reading busybox", e))?;

    // The layer: a plain (uncompressed) tar of the root filesystem.
    let mut layer = tar::Builder::new(Vec::new());
    for dir in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        layer
            .append_data(&mut h, format!("{dir}/"), std::io::empty())
            .map_err(|e| io("writing the layer", e))?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(bytes.len() as u64);
    layer
        .append_data(&mut h, "bin/busybox", bytes.as_slice())
        .map_err(|e| io("writing the layer", e))?;
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    layer
        .append_link(&mut h, "bin/sh", "busybox")
        .map_err(|e| io("writing the layer", e))?;
    let layer = layer.into_inner().map_err(|e| io("writing the layer", e))?;
    let diff_id = format!("sha256:{:x}", Sha256::digest(&layer));

    // The image config: rootfs.diff_ids must match the layer, containerd checks it.
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"history":[{{"created_by":"mus-testbed"}}]}}"#
    );
    let config_name = format!("{:x}.json", Sha256::digest(config.as_bytes()));
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["{reference}"],"Layers":["layer/layer.tar"]}}]"#
    );

    let file = std::fs::File::create(out).map_err(|e| io("creating the file", e))?;
    let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
    for (name, data) in [
        (config_name.as_str(), config.as_bytes()),
        ("layer/layer.tar", layer.as_slice()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        archive
            .append_data(&mut h, name, data)
            .map_err(|e| io("writing the archive", e))?;
    }
    let mut w = archive
        .into_inner()
        .map_err(|e| io("writing the archive", e))?;
    w.flush().map_err(|e| io("writing the archive", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn archive_has_manifest_config_and_a_layer_whose_digest_matches() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("img.tar");
        match busybox_image_tar(&out, "docker.io/local/busybox:1") {
            Err(TestbedError::BusyboxMissing { .. }) => {
                panic!("a static busybox is needed on the host (busybox-static)")
            }
            r => r.unwrap(),
        }
        let mut files = std::collections::BTreeMap::new();
        let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            files.insert(name, data);
        }
        let manifest = String::from_utf8(files["manifest.json"].clone()).unwrap();
        assert!(
            manifest.contains("\"RepoTags\":[\"docker.io/local/busybox:1\"]"),
            "{manifest}"
        );
        let layer = &files["layer/layer.tar"];
        let config_name = files
            .keys()
            .find(|k| k.ends_with(".json") && *k != "manifest.json")
            .unwrap();
        let config = String::from_utf8(files[config_name].clone()).unwrap();
        assert!(
            config.contains(&format!("sha256:{:x}", Sha256::digest(layer))),
            "{config}"
        );
        let names: Vec<String> = tar::Archive::new(layer.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.contains(&"bin/busybox".to_string()) && names.contains(&"bin/sh".to_string()),
            "{names:?}"
        );
    }
}
