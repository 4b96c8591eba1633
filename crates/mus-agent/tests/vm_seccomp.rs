//! The agent's Localhost seccomp profile (manifests/seccomp/mus-agent.json) against
//! the real containerd and runc of the QEMU test bed, with a running mus-runner:
//! (a) the profile is exactly containerd's RuntimeDefault for a container with no
//! capabilities, plus bpf (when containerd's default changes, this fails and says
//! how to regenerate the file); in containers as uid 0 with no capabilities,
//! (b) under the profile, `mus-agent boost` and `unboost` write and delete the pod's
//! entry in the runner's pinned map, (c) under RuntimeDefault the same is refused
//! with EPERM, (d) under the profile a syscall RuntimeDefault refuses (a new user
//! namespace) is still refused, though it is allowed with no filter.
//!
//! With MUS_SECCOMP_REGENERATE set (`cargo xtask seccomp-profile`), (a) rewrites the
//! committed profile from the guest's containerd instead of checking it, and the
//! test stops there: this boot's containers ran under the old file.
//!
//! Not skipped when QEMU, the kernel or containerd is missing: it fails and says why.

mod common;
mod vm_common;

use common::manifests::manifests_dir;
use common::seccomp::{PROFILE, REGENERATE_ENV, allowed, committed, with_bpf, write_committed};
use mus_testbed::GuestRun;
use serde_json::Value;
use vm_common::{entries, get, k8s_scenario, run_guest};

const SCRIPT: &str = include_str!("scenarios/seccomp.sh");

/// The weight (b) boosts the pod at: not the default, so the entry shows the CLI wrote it.
const WEIGHT: u64 = 3000;

/// What differs between the committed profile and the one it should be, in words a
/// reviewer can act on.
fn drift(committed: &Value, expected: &Value) -> String {
    let (now, want) = (allowed(committed), allowed(expected));
    let gone: Vec<_> = now.difference(&want).collect();
    let new: Vec<_> = want.difference(&now).collect();
    format!(
        "allowed only in the committed profile: {gone:?}; allowed only in containerd's default + bpf: {new:?}{}",
        if gone.is_empty() && new.is_empty() {
            " (the difference is in the conditional rules, the architectures or the default action)"
        } else {
            ""
        }
    )
}

/// The output `report` gave for `key`, which must have succeeded.
fn succeeded<'a>(run: &'a GuestRun, key: &str) -> &'a str {
    let out = get(run, key);
    assert_eq!(
        get(run, &format!("{key}_rc")),
        "0",
        "{key} failed: {out}\n{}",
        run.console_tail()
    );
    out
}

/// Asserts that `key` failed, saying `saying`.
fn refused(run: &GuestRun, key: &str, saying: &str) {
    let out = get(run, key);
    assert_ne!(
        get(run, &format!("{key}_rc")),
        "0",
        "{key} succeeded: {out}"
    );
    assert!(out.contains(saying), "{key} did not say {saying:?}: {out}");
}

#[test]
fn the_committed_profile_is_containerds_default_plus_bpf_and_confines_the_agent() {
    let work = tempfile::tempdir().unwrap();
    let scenario = k8s_scenario("seccomp", "", SCRIPT, work.path(), &[])
        .file(manifests_dir().join(PROFILE), "/opt/mus-agent.json");
    let run = run_guest(&scenario);
    let why = run.console_tail();
    assert_eq!(get(&run, "runner_state"), "enabled", "{why}");
    assert_eq!(get(&run, "containerd"), "up", "{why}");
    assert_eq!(
        get(&run, "import_rc"),
        "0",
        "{}\n{why}",
        get(&run, "import")
    );
    assert_eq!(
        get(&run, "create_rc"),
        "0",
        "{}\n{why}",
        get(&run, "create")
    );
    eprintln!(
        "guest: {}, {}, kernel {}",
        get(&run, "containerd_version"),
        get(&run, "runc_version"),
        get(&run, "kernel")
    );

    // (a) The default was computed for a container with no capabilities left, as the
    // DaemonSet's agent (drop: ALL), and does not already allow bpf.
    let record = run.all("spec").join("\n");
    let record: Value = serde_json::from_str(&record)
        .unwrap_or_else(|e| panic!("ctr container info printed no JSON ({e}): {record}\n{why}"));
    let spec = &record["Spec"];
    let caps = &spec["process"]["capabilities"];
    let left: Vec<&Value> = caps
        .as_object()
        .unwrap_or_else(|| panic!("capabilities: {caps}"))
        .values()
        .filter(|set| set.as_array().is_none_or(|s| !s.is_empty()))
        .collect();
    assert!(left.is_empty(), "the container kept capabilities: {caps}");
    let default = spec["linux"]["seccomp"].clone();
    assert!(
        !allowed(&default).contains("bpf"),
        "containerd's default now allows bpf to a container with no capabilities: the \
         profile is not needed any more (use RuntimeDefault)"
    );
    let expected = with_bpf(default);
    if std::env::var_os(REGENERATE_ENV).is_some() {
        // This boot's containers ran under the old file: the checks below are for
        // the next boot, which takes the new one into the guest.
        write_committed(&expected);
        eprintln!("wrote manifests/{PROFILE} from the guest's containerd");
        return;
    }
    let committed = committed();
    assert!(
        committed == expected,
        "manifests/{PROFILE} is not the guest containerd's RuntimeDefault plus bpf: {}. \
         Regenerate it with `cargo xtask seccomp-profile` and review the diff.",
        drift(&committed, &expected)
    );

    // (b) Under the profile: the pod's cgroup goes into the map, then out.
    let pod_id: u64 = run
        .number("pod_cgroup_id")
        .unwrap_or_else(|e| panic!("{e}"));
    succeeded(&run, "profile_boost");
    assert_eq!(
        entries(&run, "dump_profile_boosted"),
        vec![(pod_id, WEIGHT)]
    );
    assert!(succeeded(&run, "profile_unboost").contains("unboosted"));
    assert_eq!(entries(&run, "dump_profile_unboosted"), vec![]);
    succeeded(&run, "profile_bpftool");

    // (c) Under RuntimeDefault: refused, nothing written, and the errno is EPERM (the
    // filter's answer; the pin's file mode would give EACCES). The agent tells the two
    // apart: the mode lets it in, so it names seccomp, not the pin's owner.
    refused(&run, "default_boost", "the kernel refused bpf()");
    assert_eq!(entries(&run, "dump_default"), vec![]);
    refused(&run, "default_bpftool", "Operation not permitted");

    // (d) A new user namespace: refused under the profile, allowed with no filter.
    refused(&run, "profile_userns", "Operation not permitted");
    succeeded(&run, "none_userns");

    assert_eq!(get(&run, "runner_alive"), "yes", "{why}");
}
