//! The agent container's seccomp profile (manifests/seccomp/mus-agent.json): what it
//! is made of, for the guest test that regenerates and checks it against the real
//! containerd (tests/vm_seccomp.rs) and the manifest tests that ship it.

use serde_json::{Value, json};

use super::manifests::{manifests_dir, text};

/// The committed profile, under manifests/ (kustomization.yaml's generator input).
pub const PROFILE: &str = "seccomp/mus-agent.json";

/// Where the DaemonSet's `localhostProfile` says it is, under the kubelet's
/// `<root-dir>/seccomp/`.
pub const LOCALHOST_PROFILE: &str = "mus/mus-agent.json";

/// Set (to anything) to make tests/vm_seccomp.rs rewrite [`PROFILE`] from the guest's
/// containerd instead of checking it; `cargo xtask seccomp-profile` sets it.
pub const REGENERATE_ENV: &str = "MUS_SECCOMP_REGENERATE";

/// The one rule the profile adds to the runtime's default: bpf(), whatever its
/// arguments (what containerd's default grants a container holding CAP_BPF).
pub fn bpf_rule() -> Value {
    json!({"names": ["bpf"], "action": "SCMP_ACT_ALLOW"})
}

/// A runtime's default profile (OCI `linux.seccomp`) with [`bpf_rule`] appended.
pub fn with_bpf(mut default: Value) -> Value {
    match default.get_mut("syscalls").and_then(Value::as_array_mut) {
        Some(rules) => rules.push(bpf_rule()),
        None => panic!("a seccomp profile without a syscalls list: {default}"),
    }
    default
}

/// The committed profile, parsed.
pub fn committed() -> Value {
    serde_json::from_str(&text(PROFILE)).unwrap_or_else(|e| panic!("{PROFILE}: {e}"))
}

/// Writes `profile` as the committed one (two-space JSON, as it is reviewed).
pub fn write_committed(profile: &Value) {
    let path = manifests_dir().join(PROFILE);
    let text = serde_json::to_string_pretty(profile).expect("json") + "\n";
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Every syscall name an unconditional SCMP_ACT_ALLOW rule of `profile` names.
pub fn allowed(profile: &Value) -> std::collections::BTreeSet<String> {
    profile["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["action"] == "SCMP_ACT_ALLOW" && r["args"].as_array().is_none_or(Vec::is_empty)
        })
        .flat_map(|r| r["names"].as_array().into_iter().flatten())
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect()
}
