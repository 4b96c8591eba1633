//! mus-agent end to end in the QEMU test bed (mus-testbed): a real sched_ext kernel,
//! a running mus-runner, real containerd and runc running a pod's container from a
//! locally built image, and a fake API server on the guest's loopback (busybox httpd
//! serving Pod JSON made here with k8s-openapi types). One boot; each assertion is
//! on what an operator would see: exit codes, bpftool's dump, CPU time.
//!
//! Not skipped when QEMU, the kernel or containerd is missing: it fails and says why.

mod common;
mod vm_common;

use std::time::Instant;

use mus_testbed::Testbed;
use vm_common::{
    NS, POD, check_container_setup, container_id, entries, get, k8s_scenario, pod_cgroup, share,
    the_pod,
};

const SCRIPT: &str = include_str!("scenarios/agent.sh");

#[test]
fn boost_a_real_containerd_pod_through_the_agent() {
    let work = tempfile::tempdir().unwrap();
    let (c1, c2) = (container_id(0xa1), container_id(0xb2));
    let pods = [the_pod(&c1, &[], "10"), the_pod(&c2, &[], "11")];
    let scenario = k8s_scenario(
        "agent",
        &format!("C1={c1}\nC2={c2}"),
        SCRIPT,
        work.path(),
        &pods,
    );
    let testbed = Testbed::prepare().unwrap_or_else(|e| panic!("no sched_ext guest: {e}"));
    let started = Instant::now();
    let run = testbed
        .run(&scenario)
        .unwrap_or_else(|e| panic!("guest run failed: {e}"));
    eprintln!("guest run took {:?}", started.elapsed());
    let why = run.console_tail();

    // The set-up, then the API server answers.
    check_container_setup(&run, &c1);
    let pod_cg = pod_cgroup();
    assert!(
        get(&run, "api_pod").contains("\"apiVersion\":\"v1\""),
        "{why}"
    );

    // Before: the pod's two hogs and the noise's two split the CPUs about evenly.
    let before = share(&run, "before");
    assert!(
        (0.35..=0.65).contains(&before),
        "pod got {before:.3} before the boost\n{why}"
    );

    // 1. `boost ns/pod` exits 0 and bpftool shows the pod cgroup's ID at 4096.
    assert_eq!(
        get(&run, "boost_pod_rc"),
        "0",
        "{}\n{why}",
        get(&run, "boost_pod")
    );
    let pod_id: u64 = run
        .number("pod_cgroup_id")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries(&run, "dump_boosted"), vec![(pod_id, 4096)], "{why}");
    assert!(
        get(&run, "boost_pod").contains(&format!("ID {pod_id}")),
        "{why}"
    );

    // 2. The pod's share against the noisy sibling rises (theory: 4096:1024 = 80%).
    let boosted = share(&run, "boosted");
    assert!(
        boosted >= 0.75,
        "boosted pod got {boosted:.3} (before: {before:.3})\n{why}"
    );

    // 3. `status` names the pod.
    assert_eq!(
        get(&run, "status_rc"),
        "0",
        "{}\n{why}",
        get(&run, "status")
    );
    let status = get(&run, "status");
    assert!(
        status.contains(&pod_id.to_string()) && status.contains(&format!("pod {NS}/{POD}")),
        "status does not name the pod: {status}"
    );

    // 4. A restart (new container ID, new cgroup under the same pod cgroup) stays
    // boosted with no agent action: the map is unchanged and the share stays high.
    assert_eq!(get(&run, "c1_cgroup_after_kill"), "gone", "{why}");
    assert_eq!(get(&run, "run2_rc"), "0", "{}\n{why}", get(&run, "run2"));
    assert_eq!(get(&run, "c2_cgroup"), format!("0::{pod_cg}/{c2}"), "{why}");
    assert_eq!(
        entries(&run, "dump_restarted"),
        vec![(pod_id, 4096)],
        "{why}"
    );
    let restarted = share(&run, "restarted");
    assert!(
        restarted >= 0.75,
        "restarted container got {restarted:.3}\n{why}"
    );

    // 5. `unboost ns/pod` removes the entry, and the share falls back.
    assert_eq!(
        get(&run, "unboost_pod_rc"),
        "0",
        "{}\n{why}",
        get(&run, "unboost_pod")
    );
    assert_eq!(entries(&run, "dump_unboosted"), vec![], "{why}");
    let unboosted = share(&run, "unboosted");
    assert!(
        unboosted <= 0.65,
        "pod still got {unboosted:.3} after unboost\n{why}"
    );

    // 6. `boost ns/pod/ctr` goes through containerd (ID -> task PID -> /proc/PID/cgroup)
    // and writes the container's own cgroup, not the pod's.
    assert_eq!(
        get(&run, "boost_ctr_rc"),
        "0",
        "{}\n{why}",
        get(&run, "boost_ctr")
    );
    let boost_ctr = get(&run, "boost_ctr");
    assert!(
        boost_ctr.contains("found through containerd at /run/containerd/containerd.sock"),
        "the container was not resolved through containerd: {boost_ctr}"
    );
    let c2_id: u64 = run.number("c2_cgroup_id").unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(c2_id, pod_id);
    assert_eq!(entries(&run, "dump_ctr"), vec![(c2_id, 8192)], "{why}");

    // The scheduler was never ejected while the agent worked.
    assert_eq!(get(&run, "runner_alive"), "yes", "{why}");
    assert_eq!(get(&run, "final_state"), "enabled", "{why}");
}
