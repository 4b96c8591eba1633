//! The agent's seccomp profile as the manifests ship it: the agent container runs
//! under it (Localhost), and the init container copies it, from the ConfigMap
//! kustomization.yaml generates out of the committed JSON, to the file the agent's
//! `localhostProfile` names under the kubelet's seccomp directory. The profile
//! itself is a default profile plus bpf; tests/vm_seccomp.rs checks that the default
//! is containerd's, in the guest.

use std::path::Path;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Container, SeccompProfile};

use super::common::seccomp::{LOCALHOST_PROFILE, PROFILE, allowed, bpf_rule, committed};
use super::kustomize::generated_config_maps;
use super::{assert_unprivileged, container, documents, one, text};

/// The kubelet's default --root-dir; Localhost profiles are read under its seccomp/.
const KUBELET_ROOT: &str = "/var/lib/kubelet";

/// The init container that installs the profile.
const INSTALLER: &str = "seccomp-profile";

fn seccomp_of(c: &Container) -> SeccompProfile {
    c.security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.clone())
        .unwrap_or_else(|| panic!("{} has no seccompProfile", c.name))
}

/// Where container `c` mounts volume `volume`.
fn mount_path(c: &Container, volume: &str) -> String {
    c.volume_mounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|m| m.name == volume)
        .map(|m| m.mount_path.clone())
        .unwrap_or_else(|| panic!("{} does not mount {volume}", c.name))
}

#[test]
fn the_agent_runs_under_the_profile_the_init_container_installs() {
    let ds: DaemonSet = one(&documents("mus-daemonset.yaml"), "DaemonSet");
    let spec = ds.spec.template.spec.expect("pod spec");
    let agent = seccomp_of(container(&spec, "agent"));
    assert_eq!(agent.type_, "Localhost");
    assert_eq!(agent.localhost_profile.as_deref(), Some(LOCALHOST_PROFILE));

    // The installer: no privilege but uid 0, under RuntimeDefault.
    let init = spec.init_containers.as_deref().unwrap_or_default();
    assert_eq!(
        init.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [INSTALLER]
    );
    let installer = &init[0];
    assert_unprivileged(installer);
    assert_eq!(seccomp_of(installer).type_, "RuntimeDefault");

    // It writes the file the agent's localhostProfile names, in the kubelet's
    // seccomp directory, through a hostPath of that directory alone.
    let (dir, file) = LOCALHOST_PROFILE
        .rsplit_once('/')
        .expect("a directory of its own under seccomp/");
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let host_dir = volumes
        .iter()
        .find(|v| v.name == "kubelet-seccomp")
        .and_then(|v| v.host_path.as_ref())
        .expect("the kubelet-seccomp hostPath");
    assert_eq!(host_dir.path, format!("{KUBELET_ROOT}/seccomp/{dir}"));
    assert_eq!(host_dir.type_.as_deref(), Some("DirectoryOrCreate"));
    let command = installer.command.as_deref().unwrap_or_default().join(" ");
    let target = format!("{}/{file}", mount_path(installer, "kubelet-seccomp"));
    assert!(command.ends_with(&format!(" {target}")), "{command}");

    // From the ConfigMap generated out of the committed profile (kustomize.rs checks
    // that the DaemonSet's reference gets the generated name).
    let from_config_map = volumes
        .iter()
        .find(|v| v.name == "seccomp")
        .and_then(|v| v.config_map.as_ref())
        .map(|c| c.name.clone())
        .expect("the seccomp ConfigMap volume");
    let generated = generated_config_maps()
        .into_iter()
        .find(|c| c.metadata.name.as_ref() == Some(&from_config_map))
        .expect("a generated ConfigMap");
    let key = Path::new(PROFILE)
        .file_name()
        .and_then(|f| f.to_str())
        .expect("a file name");
    let data = generated.data.unwrap_or_default();
    assert_eq!(data.get(key), Some(&text(PROFILE)));
    let source = format!("{}/{key}", mount_path(installer, "seccomp"));
    assert!(
        command.starts_with(&format!("sh -c cp {source} ")),
        "{command}"
    );

    // Nobody else reaches the kubelet's directory.
    for c in &spec.containers {
        assert!(
            c.volume_mounts
                .as_deref()
                .unwrap_or_default()
                .iter()
                .all(|m| m.name != "kubelet-seccomp"),
            "{} mounts the kubelet's seccomp directory",
            c.name
        );
    }
}

#[test]
fn the_committed_profile_is_a_default_profile_plus_bpf() {
    let profile = committed();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    let rules = profile["syscalls"].as_array().expect("syscalls");
    assert_eq!(rules.last(), Some(&bpf_rule()), "bpf is the last rule");
    let mut without = profile.clone();
    without["syscalls"].as_array_mut().expect("syscalls").pop();
    assert!(
        !allowed(&without).contains("bpf"),
        "the default part allows bpf already"
    );
    // What the default refuses a container with no capabilities, and the profile
    // still refuses: namespaces, mounts, keyrings, modules, kexec, perf.
    let allowed = allowed(&profile);
    for refused in [
        "unshare",
        "setns",
        "mount",
        "keyctl",
        "add_key",
        "init_module",
        "kexec_load",
        "perf_event_open",
    ] {
        assert!(!allowed.contains(refused), "the profile allows {refused}");
    }
    assert!(allowed.contains("bpf"));
}
