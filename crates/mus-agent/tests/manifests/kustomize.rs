//! manifests/kustomization.yaml, the base `kubectl apply -k manifests/` installs: that
//! it lists every manifest of mus and nothing else, and that the ConfigMaps it
//! generates (the policy, the agent's seccomp profile) are ones the DaemonSet
//! mounts. No kustomize runs
//! here (CI machines have no kubectl); this reads the kustomization as kustomize
//! does, for the fields it uses, and refuses any other field.

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::{DEMOS, FILES, documents, manifests_dir, one, text};

/// The fields of kustomization.yaml this base uses; any other is a typo or a
/// feature these tests do not model, and fails to parse.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Kustomization {
    api_version: String,
    kind: String,
    resources: Vec<String>,
    config_map_generator: Vec<Generator>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generator {
    name: String,
    namespace: String,
    files: Vec<String>,
}

fn kustomization() -> Kustomization {
    let k: Kustomization = serde_saphyr::from_str(&text("kustomization.yaml"))
        .unwrap_or_else(|e| panic!("kustomization.yaml: {e}"));
    assert_eq!(k.api_version, "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k.kind, "Kustomization");
    k
}

/// The ConfigMaps the kustomization generates, as kustomize writes them but for
/// the content-hash suffix of their names (which it also writes into every
/// reference to them, such as a DaemonSet's configMap volume).
pub fn generated_config_maps() -> Vec<ConfigMap> {
    kustomization()
        .config_map_generator
        .into_iter()
        .map(|g| ConfigMap {
            metadata: ObjectMeta {
                name: Some(g.name),
                namespace: Some(g.namespace),
                ..Default::default()
            },
            // `files: [dir/policy.yaml]` is the key policy.yaml holding that file.
            data: Some(g.files.iter().map(|f| (key_of(f), text(f))).collect()),
            ..Default::default()
        })
        .collect()
}

/// The ConfigMap key kustomize gives a generator's input file: its file name.
fn key_of(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| panic!("{file} names no file"))
}

#[test]
fn the_kustomization_lists_every_manifest_of_mus_and_nothing_else() {
    let k = kustomization();
    let present: BTreeSet<String> = std::fs::read_dir(manifests_dir())
        .expect("manifests/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    let resources: BTreeSet<String> = k.resources.iter().cloned().collect();
    assert_eq!(
        resources.len(),
        k.resources.len(),
        "a resource listed twice"
    );
    let inputs: BTreeSet<String> = k
        .config_map_generator
        .iter()
        .flat_map(|g| g.files.iter().cloned())
        .collect();
    let demos: BTreeSet<String> = DEMOS.iter().map(|d| d.to_string()).collect();
    // Resources by plain name (the comparison below is by name); inputs under the
    // kustomization's directory: kustomize loads no file outside it (its default
    // load restrictor).
    for name in &resources {
        assert_eq!(Path::new(name).file_name(), Some(name.as_ref()), "{name}");
    }
    for name in &inputs {
        let path = Path::new(name);
        assert!(
            path.is_relative()
                && path
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{name} is not under manifests/"
        );
    }

    // Every YAML file is a resource of the base, a generator's input, a demo or
    // the kustomization itself, and only one of these.
    let mut accounted: Vec<String> = resources
        .iter()
        .chain(&inputs)
        .chain(&demos)
        .cloned()
        .collect();
    accounted.push("kustomization.yaml".into());
    let unique: BTreeSet<String> = accounted.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        accounted.len(),
        "a file in two roles: {accounted:?}"
    );
    let top: BTreeSet<String> = unique
        .iter()
        .filter(|f| !f.contains('/'))
        .cloned()
        .collect();
    assert_eq!(top, present, "manifests/ and kustomization.yaml disagree");
    // A folder that holds an input holds nothing else (no stale profile beside it).
    for input in inputs.iter().filter(|f| f.contains('/')) {
        let dir = Path::new(input).parent().expect("a folder");
        for entry in std::fs::read_dir(manifests_dir().join(dir)).expect("the folder") {
            let file = dir.join(entry.expect("entry").file_name());
            let file = file.to_string_lossy();
            assert!(
                inputs.contains(file.as_ref()),
                "manifests/{file} is no generator's input"
            );
        }
    }

    // The other tests parse every resource and every demo into k8s-openapi types.
    let parsed: BTreeSet<String> = FILES.iter().map(|f| f.to_string()).collect();
    assert_eq!(parsed, &resources | &demos);
    // A generator's input is not a Kubernetes object (kustomize would not apply it).
    for input in &inputs {
        assert!(
            documents(input).iter().all(|d| d.get("kind").is_none()),
            "{input} is a generator's input, not a manifest"
        );
    }
}

#[test]
fn each_generated_config_map_is_one_the_daemonset_mounts() {
    let ds: DaemonSet = one(&documents("mus-daemonset.yaml"), "DaemonSet");
    let generated = generated_config_maps();
    let names: Vec<Option<&str>> = generated
        .iter()
        .map(|c| c.metadata.name.as_deref())
        .collect();
    assert_eq!(
        names,
        [Some("mus-policy"), Some("mus-seccomp")],
        "the policy and the agent's seccomp profile"
    );
    let spec = ds.spec.template.spec.expect("pod spec");
    let volumes = spec.volumes.unwrap_or_default();
    for config_map in &generated {
        let meta = &config_map.metadata;
        // Same namespace: kustomize rewrites a reference to a generated name only
        // within the namespace it is generated in (a pod can mount no other anyway).
        assert_eq!(meta.namespace, ds.metadata.namespace);
        assert!(
            volumes.iter().any(|v| v
                .config_map
                .as_ref()
                .is_some_and(|c| Some(&c.name) == meta.name.as_ref())),
            "the DaemonSet mounts no ConfigMap named {:?}, so kustomize would leave its \
             reference without the hash suffix, pointing at nothing",
            meta.name
        );
        // And no resource defines a ConfigMap of that name besides the generator.
        for file in FILES {
            for doc in documents(file) {
                assert!(
                    !(doc["kind"] == "ConfigMap"
                        && doc["metadata"]["name"].as_str() == meta.name.as_deref()),
                    "{file} defines the ConfigMap the kustomization generates"
                );
            }
        }
    }
}
