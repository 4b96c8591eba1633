//! mus-runner and the scheduler on a real sched_ext kernel, booted under QEMU by
//! mus-testbed. Each test boots the guest once and asserts on what the scenario
//! reports; none is skipped when the kernel or QEMU is missing: they fail and say why.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use mus_testbed::{GuestRun, Scenario, Testbed};

const LIB: &str = include_str!("scenarios/lib.sh");

/// mus-agent, which writes the map through mus-common. Cargo builds only this
/// package's binaries for its tests, so build the agent here (once).
fn agent_binary() -> PathBuf {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "--package",
                    "mus-agent",
                    "--bin",
                    "mus-agent",
                ])
                .status()
                .expect("cannot run cargo to build mus-agent");
            assert!(status.success(), "building mus-agent failed");
            let runner = PathBuf::from(env!("CARGO_BIN_EXE_mus-runner"));
            runner.with_file_name("mus-agent")
        })
        .clone()
}

fn boot(name: &str, script: &str, timeout_s: u64) -> GuestRun {
    let agent = agent_binary();
    let testbed = Testbed::prepare().unwrap_or_else(|e| panic!("no sched_ext guest: {e}"));
    let scenario = Scenario::new(name, &format!("{LIB}\n{script}"))
        .binary(env!("CARGO_BIN_EXE_mus-runner"))
        .binary(agent)
        .host_tool("bpftool")
        .host_tool("stress-ng")
        .timeout(Duration::from_secs(timeout_s));
    let run = testbed
        .run(&scenario)
        .unwrap_or_else(|e| panic!("guest run failed: {e}"));
    assert_eq!(
        run.get("sched_ext_state"),
        Some("disabled"),
        "the guest kernel must have sched_ext, idle at boot\n{}",
        run.console_tail()
    );
    run
}

/// Fetches `key` or fails the test with the guest's console.
fn get<'a>(run: &'a GuestRun, key: &str) -> &'a str {
    run.require(key).unwrap_or_else(|e| panic!("{e}"))
}

/// The two numbers of a `measure` line: CPU microseconds of the two cgroups.
fn pair(run: &GuestRun, key: &str) -> (f64, f64) {
    let value = get(run, key);
    let nums: Vec<f64> = value
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match nums[..] {
        [a, b] if a + b > 0.0 => (a, b),
        _ => panic!(
            "{key} should be two CPU times, got {value:?}\n{}",
            run.console_tail()
        ),
    }
}

fn share(run: &GuestRun, key: &str) -> f64 {
    let (a, b) = pair(run, key);
    a / (a + b)
}

#[test]
fn lifecycle_attach_pin_second_runner_sigkill_and_sigterm() {
    let run = boot("lifecycle", include_str!("scenarios/lifecycle.sh"), 180);
    let why = run.console_tail();

    // 1. attached, named mus, pin root-only, and so are the counters next to it
    assert_eq!(get(&run, "attach_state"), "enabled", "{why}");
    assert!(get(&run, "attach_ops").starts_with("mus"), "{why}");
    assert_eq!(get(&run, "pin_mode"), "600", "{why}");
    assert_eq!(get(&run, "stats_pin_mode"), "600", "{why}");

    // 2. an entry written through mus-common, read back by bpftool with field names
    assert_eq!(get(&run, "boost_rc"), "0", "{why}");
    let id = get(&run, "boosted_id");
    let dump = get(&run, "dump");
    assert!(
        dump.contains(&format!("\"key\":{id}")),
        "key {id} not in {dump}"
    );
    assert!(
        dump.contains("\"weight\":4096"),
        "weight field not in {dump}"
    );

    // 6. a second runner refuses, naming the running scheduler, and leaves it alone
    assert_eq!(get(&run, "second_rc"), "1", "{why}");
    let msg = get(&run, "second_msg");
    assert!(
        msg.contains("already running") && msg.contains("mus"),
        "{msg}"
    );
    assert_eq!(get(&run, "second_after_state"), "enabled", "{why}");
    assert_eq!(get(&run, "first_alive"), "yes", "{why}");

    // 5. SIGKILL: detached within a second; the next runner keeps the boosts
    let detach_cs: u32 = run
        .number("sigkill_detach_cs")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        detach_cs <= 100,
        "detach after SIGKILL took {detach_cs}0 ms"
    );
    assert_eq!(get(&run, "pin_after_kill"), "present", "{why}");
    assert_eq!(get(&run, "restart_state"), "enabled", "{why}");
    let dump = get(&run, "restart_dump");
    assert!(
        dump.contains(&format!("\"key\":{id}")) && dump.contains("\"weight\":4096"),
        "the boost did not survive the crash: {dump}"
    );
    // ... but not its counters: the stale pin is replaced (a new bpffs inode)
    assert_eq!(get(&run, "restart_stats_pin_mode"), "600", "{why}");
    assert_ne!(
        get(&run, "restart_stats_pin_ino"),
        get(&run, "stats_pin_ino"),
        "{why}"
    );

    // 5. SIGTERM: exit 0, scheduler detached, pin gone
    assert_eq!(get(&run, "sigterm_rc"), "0", "{why}");
    assert_eq!(get(&run, "final_state"), "disabled", "{why}");
    assert_eq!(get(&run, "pin_after_term"), "absent", "{why}");
    assert_eq!(get(&run, "stats_pin_after_term"), "absent", "{why}");
}

#[test]
fn cpu_share_follows_the_weights_parent_boosts_cover_children_and_cpu_idle_is_honoured() {
    let run = boot("share", include_str!("scenarios/share.sh"), 240);

    // 3. equal hogs split about evenly with an empty map...
    let even = share(&run, "even");
    assert!(
        (0.40..=0.60).contains(&even),
        "empty map gave a {even:.3} share"
    );
    // ... and 4096 vs 1024 gets at least 75% (theory: 80%)
    let boosted = share(&run, "boosted");
    assert!(
        boosted >= 0.75,
        "boosted cgroup got {boosted:.3}, want >= 0.75"
    );

    // 4. boosting a parent boosts the tasks in its child
    let parent = share(&run, "parent");
    assert!(
        parent >= 0.75,
        "child of a boosted parent got {parent:.3}, want >= 0.75"
    );

    // cpu.idle=1 on the other cgroup leaves it next to nothing: by weight 1 it would
    // get 0.1%; the floor is the starvation rescue's short slices, which last until
    // the next tick and so stretch when the host delays the guest's timer (seen: 1% to
    // 6%). Without cpu.idle it would get 50%.
    let idle = 1.0 - share(&run, "idle");
    assert!(
        idle <= 0.10,
        "the cpu.idle cgroup got {idle:.3}, want <= 0.10"
    );
    assert_eq!(get(&run, "runner_rc"), "0", "{}", run.console_tail());
}

#[test]
fn stress_ng_in_a_boosted_cgroup_neither_ejects_nor_starves() {
    let run = boot("stress", include_str!("scenarios/stress.sh"), 300);
    let why = run.console_tail();

    // 7. no watchdog ejection...
    assert_eq!(get(&run, "state_after"), "enabled", "{why}");
    assert_eq!(get(&run, "runner_alive"), "yes", "{why}");
    assert_eq!(get(&run, "runner_rc"), "0", "{why}");
    assert_eq!(get(&run, "stress_rc"), "0", "{why}");
    // ... and the normal cgroup progresses in every 10 s window (at least 2% of a CPU)
    for window in ["window1", "window2", "window3"] {
        let (normal_us, _) = pair(&run, window);
        assert!(
            normal_us >= 200_000.0,
            "normal hog got {normal_us} us in {window}\n{why}"
        );
    }
    assert_eq!(get(&run, "niced_nice"), "19", "{why}");
    let niced_us: u64 = run.number("niced_usec").unwrap_or_else(|e| panic!("{e}"));
    assert!(niced_us > 0, "the nice-19 hog never ran\n{why}");
}

/// 8. This host's kernel has no sched_ext: the runner says so and exits 1.
#[test]
fn on_a_kernel_without_sched_ext_the_runner_says_what_is_missing() {
    if std::path::Path::new("/sys/kernel/sched_ext").exists() {
        // A host with sched_ext is checked by the guest tests instead; say so.
        eprintln!("this host has sched_ext; the no-sched_ext message is not exercised here");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mus-runner"))
        .output()
        .expect("cannot run mus-runner");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no sched_ext"), "{stderr}");
    assert!(stderr.contains("CONFIG_SCHED_CLASS_EXT=y"), "{stderr}");
}
