//! Boots the real guest kernel. This test fails, never skips, when no kernel can be had:
//! a test bed that silently does nothing would hide every sched_ext test behind it.

use std::time::{Duration, Instant};

use mus_testbed::{Scenario, Testbed};

#[test]
fn boots_a_sched_ext_kernel_and_reports_results() {
    let testbed = match Testbed::prepare() {
        Ok(t) => t,
        Err(e) => panic!("the VM test bed is unavailable: {e}"),
    };
    let script = r#"
echo "@@MUS hello world"
cat /sys/kernel/sched_ext/state
if [ -e /sys/kernel/sched_ext/root/ops ]; then
    echo "@@MUS root_ops $(cat /sys/kernel/sched_ext/root/ops)"
else
    echo "@@MUS root_ops absent"
fi
echo "@@MUS bpffs $(grep -c ' /sys/fs/bpf bpf ' /proc/mounts)"
echo "@@MUS cpu_controller $(grep -cw cpu /sys/fs/cgroup/cgroup.subtree_control)"
echo "@@MUS nproc $(nproc)"
# The shared guest library under busybox: a cgroup with a weight, a command run in it.
mkcg lib/t 200
echo "@@MUS lib_weight $(cat $CG/lib/t/cpu.weight)"
echo "@@MUS lib_in_cg $(in_cg lib/t cat /proc/self/cgroup)"
"#;
    let started = Instant::now();
    let run = testbed
        .run(&Scenario::with_guest_lib("boot", script).timeout(Duration::from_secs(120)))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "booted {} in {:.1} s",
        testbed.kernel_release(),
        started.elapsed().as_secs_f64()
    );

    let check = |key: &str, want: &str| {
        let got = run.require(key).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, want, "@@MUS {key}\n{}", run.console_tail());
    };
    check("hello", "world");
    check("kernel", testbed.kernel_release());
    check("sched_ext_state", "disabled");
    check("root_ops", "absent");
    check("bpffs", "1");
    check("cpu_controller", "1");
    check("lib_weight", "200");
    check("lib_in_cg", "0::/lib/t");
    assert_eq!(
        run.number::<u32>("nproc").unwrap_or_else(|e| panic!("{e}")),
        2
    );
    assert_eq!(run.scenario_status, Some(0), "{}", run.console_tail());
    // The bare `cat` went to the console too.
    assert!(
        run.console.lines().any(|l| l.trim() == "disabled"),
        "{}",
        run.console_tail()
    );
}
