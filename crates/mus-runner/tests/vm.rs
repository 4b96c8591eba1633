//! mus-runner and the scheduler on a real sched_ext kernel, booted under QEMU by
//! mus-testbed. Each test boots the guest once and asserts on what the scenario
//! reports; none is skipped when the kernel or QEMU is missing: they fail and say why.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{boot_on, get};
use mus_common::waits::CgroupWaits;
use mus_testbed::{GuestKernel, GuestRun, Scenario, build_workspace_bins};

/// mus-agent, which writes the map through mus-common. Cargo builds only this
/// package's binaries for its tests, so build the agent here (once).
fn agent_binary() -> PathBuf {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT
        .get_or_init(|| match build_workspace_bins(["mus-agent"]) {
            Ok([agent]) => agent,
            Err(e) => panic!("{e}"),
        })
        .clone()
}

/// [`common::scenario`] with the agent and stress-ng in the guest too.
fn scenario(name: &str, script: &str, timeout_s: u64) -> Scenario {
    common::scenario(name, script, timeout_s)
        .binary(agent_binary())
        .host_tool("stress-ng")
}

/// Boots the 6.12 LTS kernel (built from Debian's source on first use) with the
/// scenario, and checks that the guest ran it.
fn boot_6_12(scenario: Scenario) -> GuestRun {
    let run = boot_on(GuestKernel::Lts612, scenario);
    assert!(
        get(&run, "kernel").starts_with("6.12."),
        "{}",
        run.console_tail()
    );
    run
}

/// Boots Debian's cloud kernel (7.3) with the scenario.
fn boot(name: &str, script: &str, timeout_s: u64) -> GuestRun {
    boot_with(name, script, timeout_s, &[])
}

/// [`boot`] with more host tools in the guest.
fn boot_with(name: &str, script: &str, timeout_s: u64, tools: &[&str]) -> GuestRun {
    let scenario = tools
        .iter()
        .fold(scenario(name, script, timeout_s), |s, tool| {
            s.host_tool(tool)
        });
    boot_on(GuestKernel::Cloud, scenario)
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
    check_lifecycle(&boot(
        "lifecycle",
        include_str!("scenarios/lifecycle.sh"),
        180,
    ));
}

/// The same lifecycle on the 6.12 LTS kernel.
#[test]
fn lifecycle_on_6_12_lts() {
    check_lifecycle(&boot_6_12(scenario(
        "lifecycle-6.12",
        include_str!("scenarios/lifecycle.sh"),
        180,
    )));
}

fn check_lifecycle(run: &GuestRun) {
    let why = run.console_tail();

    // 1. attached, named mus, pin root-only in a root-only directory, and so are the
    // counters next to it
    assert_eq!(get(run, "attach_state"), "enabled", "{why}");
    assert!(get(run, "attach_ops").starts_with("mus"), "{why}");
    assert_eq!(get(run, "pin_mode"), "600", "{why}");
    assert_eq!(get(run, "pin_dir_mode"), "700", "{why}");
    assert_eq!(get(run, "stats_pin_mode"), "600", "{why}");

    // ... which `--monitor` reads beside the scheduler: every counter since load (the
    // guest's own tasks have run), then a line per second, and a clean exit on SIGTERM
    assert_eq!(get(run, "monitor_rc"), "0", "{why}");
    let first = get(run, "monitor_first");
    assert!(first.starts_with("since load: "), "{first}\n{why}");
    let runs: u64 = first
        .split(' ')
        .find_map(|w| w.strip_prefix("runs_normal=")?.parse().ok())
        .unwrap_or_else(|| panic!("no runs_normal in {first}"));
    assert!(runs > 0, "{first}");
    for c in mus_common::stats::COUNTERS {
        assert!(
            first.contains(&format!(" {}=", c.name)),
            "{} in {first}",
            c.name
        );
    }
    let intervals: u32 = run
        .number("monitor_intervals")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(intervals >= 1, "{why}");

    // 2. an entry written through mus-common, read back by bpftool with field names
    assert_eq!(get(run, "boost_rc"), "0", "{why}");
    let id = get(run, "boosted_id");
    let dump = get(run, "dump");
    assert!(
        dump.contains(&format!("\"key\":{id}")),
        "key {id} not in {dump}"
    );
    assert!(
        dump.contains("\"weight\":4096"),
        "weight field not in {dump}"
    );

    // 6. a second runner refuses, naming the running scheduler, and leaves it alone
    assert_eq!(get(run, "second_rc"), "1", "{why}");
    let msg = get(run, "second_msg");
    assert!(
        msg.contains("already running") && msg.contains("mus"),
        "{msg}"
    );
    assert_eq!(get(run, "second_after_state"), "enabled", "{why}");
    assert_eq!(get(run, "first_alive"), "yes", "{why}");

    // 5. SIGKILL: detached within a second; the next runner keeps the boosts
    let detach_cs: u32 = run
        .number("sigkill_detach_cs")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        detach_cs <= 100,
        "detach after SIGKILL took {detach_cs}0 ms"
    );
    assert_eq!(get(run, "pin_after_kill"), "present", "{why}");
    assert_eq!(get(run, "restart_state"), "enabled", "{why}");
    let dump = get(run, "restart_dump");
    assert!(
        dump.contains(&format!("\"key\":{id}")) && dump.contains("\"weight\":4096"),
        "the boost did not survive the crash: {dump}"
    );
    // ... but not its counters: the stale pin is replaced (a new bpffs inode)
    assert_eq!(get(run, "restart_stats_pin_mode"), "600", "{why}");
    assert_ne!(
        get(run, "restart_stats_pin_ino"),
        get(run, "stats_pin_ino"),
        "{why}"
    );

    // 5. SIGTERM: exit 0, scheduler detached, pin gone
    assert_eq!(get(run, "sigterm_rc"), "0", "{why}");
    assert_eq!(get(run, "final_state"), "disabled", "{why}");
    assert_eq!(get(run, "pin_after_term"), "absent", "{why}");
    assert_eq!(get(run, "stats_pin_after_term"), "absent", "{why}");
    // ... and --monitor, with nothing to read, fails naming the runner
    assert_eq!(get(run, "monitor_none_rc"), "1", "{why}");
    assert!(
        get(run, "monitor_none_msg").contains("is mus-runner running"),
        "{why}"
    );
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
    let run = boot_with(
        "stress",
        include_str!("scenarios/stress.sh"),
        420,
        &["taskset"],
    );
    check_stress(&run);
}

/// The same minute of stress on 6.12 LTS (where the `cpu.idle` cgroup runs at its
/// `cpu.weight`: it must still progress).
#[test]
fn stress_ng_in_a_boosted_cgroup_neither_ejects_nor_starves_on_6_12_lts() {
    check_stress(&boot_6_12(
        scenario("stress-6.12", include_str!("scenarios/stress.sh"), 420).host_tool("taskset"),
    ));
}

/// Issue "Real nodes": the same minute of stress on the two-socket guest (two cache
/// queues, 8 vCPUs), with the watchdog timeout the two-socket test uses (eight TCG
/// vCPUs on two host cores run the kernel's own watchdog check-in seconds late).
#[test]
fn the_stress_test_neither_ejects_nor_starves_on_the_two_socket_guest() {
    let script = format!(
        "RUNNER_ARGS='--watchdog-timeout-ms 20000'\n{}",
        include_str!("scenarios/stress.sh")
    );
    let run = boot_on(
        GuestKernel::Cloud,
        scenario("stress-2s", &script, 500)
            .host_tool("taskset")
            .topology(2, 4),
    );
    check_stress(&run);
}

/// No ejection, and every cgroup of the stress scenario progressed.
fn check_stress(run: &GuestRun) {
    let why = run.console_tail();

    // 7. no watchdog ejection...
    assert_eq!(get(run, "state_after"), "enabled", "{why}");
    assert_eq!(get(run, "runner_alive"), "yes", "{why}");
    assert_eq!(get(run, "runner_rc"), "0", "{why}");
    assert_eq!(get(run, "stress_rc"), "0", "{why}");
    // ... and the normal cgroup progresses in every 20 s window (at least 2% of a CPU)
    for window in ["window1", "window2", "window3"] {
        let (normal_us, _) = pair(run, window);
        assert!(
            normal_us >= 400_000.0,
            "normal hog got {normal_us} us in {window}\n{why}"
        );
    }
    assert_eq!(get(run, "niced_nice"), "19", "{why}");
    let niced_us: u64 = run.number("niced_usec").unwrap_or_else(|e| panic!("{e}"));
    assert!(niced_us > 0, "the nice-19 hog never ran\n{why}");
    let idle_us: u64 = run.number("idle_usec").unwrap_or_else(|e| panic!("{e}"));
    assert!(idle_us > 0, "the cpu.idle cgroup never ran\n{why}");
}

/// One `measure_n` line: seconds measured and the CPU seconds of each cgroup.
fn usages(run: &GuestRun, key: &str) -> (f64, Vec<f64>) {
    let value = get(run, key);
    let parse = |part: &str| -> Vec<f64> {
        part.split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    match value.split_once('|').map(|(a, b)| (parse(a), parse(b))) {
        Some((before, after)) if before.len() == after.len() && before.len() >= 2 => {
            let secs = (after[0] - before[0]) / 100.0;
            let used = before[1..]
                .iter()
                .zip(&after[1..])
                .map(|(b, a)| (a - b) / 1e6)
                .collect();
            (secs, used)
        }
        _ => panic!(
            "{key} is not a measure_n line: {value:?}\n{}",
            run.console_tail()
        ),
    }
}

/// The share of each of the first `n` cgroups of a `measure_n` line in their sum.
fn shares(run: &GuestRun, key: &str, n: usize) -> Vec<f64> {
    let (_, used) = usages(run, key);
    let sum: f64 = used[..n].iter().sum();
    assert!(sum > 0.0, "{key}: nothing ran\n{}", run.console_tail());
    used.iter().map(|u| u / sum).collect()
}

/// Issue "Fair to the whole node": with an empty map, every cgroup's share is within
/// 3 points of the stock scheduler's in the same boot (or closer than it to the
/// cpu.weight theory), flat, nested and in a kubelet-shaped tree; a boost is at least
/// the kernel's own knob with the same factor; cpu.max holds; system.slice keeps its
/// share when a pod is boosted.
#[test]
fn cgroup_shares_match_the_stock_scheduler_and_a_boost_is_at_least_cpu_weight() {
    let run = boot("fairness", include_str!("scenarios/fairness.sh"), 420);
    let why = run.console_tail();
    let close = |what: &str, mus: f64, stock: f64, theory: f64| {
        assert!(
            (mus - stock).abs() <= 0.03 || (mus - theory).abs() <= (stock - theory).abs(),
            "{what}: mus {mus:.3}, stock {stock:.3}, theory {theory:.3}\n{why}"
        );
    };

    // flat 300:100, two threads each
    let (m, s) = (shares(&run, "mus_flat", 2), shares(&run, "stock_flat", 2));
    close("flat w300", m[0], s[0], 0.75);

    // nested: parents 200:100; under the first, 1 thread against 3 (equal weights)
    let (m, s) = (
        shares(&run, "mus_nested", 2),
        shares(&run, "stock_nested", 2),
    );
    close("nested p200", m[0], s[0], 2.0 / 3.0);
    close("nested p200/c1", m[2], s[2], 1.0 / 3.0);

    // kubelet: system.slice, kubepods.slice, then the pods (shares of the whole node).
    // Theory: system.slice (100, one thread) against kubepods.slice (79) would get
    // 100/179 of 2 CPUs but can use only one; inside kubepods.slice's CPU the
    // guaranteed pod (39), the burstable slice (20: two pods at 10) and the
    // besteffort slice (1) split by weight.
    let names = [
        "system.slice",
        "kubepods.slice",
        "guaranteed",
        "burstable1",
        "burstable2",
        "besteffort",
    ];
    let kube = |b1: f64, b2: f64| [0.5, 0.5, 0.5 * 39.0 / 60.0, b1, b2, 0.5 / 60.0];
    // The mus and stock shares of phase `key`, printed next to `theory` when given.
    let kubelet_phase = |key: &str, theory: Option<[f64; 6]>| {
        let (m, s) = (
            shares(&run, &format!("mus_{key}"), 2),
            shares(&run, &format!("stock_{key}"), 2),
        );
        for (i, name) in names.iter().enumerate() {
            let t = theory.map_or(String::new(), |t| format!(" theory {:.3}", t[i]));
            eprintln!("{key} {name}: mus {:.3} stock {:.3}{t}", m[i], s[i]);
        }
        (m, s)
    };
    let theory = kube(0.5 * 20.0 / 60.0 / 2.0, 0.5 * 20.0 / 60.0 / 2.0);
    let (m, s) = kubelet_phase("kubelet", Some(theory));
    for (i, name) in names.iter().enumerate() {
        close(name, m[i], s[i], theory[i]);
    }
    // burstable pod 1 boosted 4x (40 against its sibling's 10): at least its share in
    // theory and above its unboosted share; system.slice keeps its share.
    let boosted = kube(0.5 * 20.0 / 60.0 * 0.8, 0.5 * 20.0 / 60.0 * 0.2);
    let (mb, _) = kubelet_phase("kubelet_boost", Some(boosted));
    assert!(
        mb[3] >= boosted[3] - 0.03,
        "boosted pod: mus {:.3}, theory {:.3}\n{why}",
        mb[3],
        boosted[3]
    );
    assert!(
        mb[3] > m[3],
        "boosted pod {:.3} not above its unboosted {:.3}\n{why}",
        mb[3],
        m[3]
    );
    for (what, slice) in [("unboosted", m[0]), ("boosted", mb[0])] {
        assert!(
            (slice - 0.5).abs() <= 0.05,
            "system.slice got {slice:.3} with a pod {what}\n{why}"
        );
    }
    // three pods boosted at once (one per QoS class) and system.slice with a second
    // thread, so that its weight rather than its thread count sets its share: the
    // boosts take nothing from it, it keeps 100/179 of the node like stock with the
    // three pods' cpu.weight raised 4x. (Before runnable tasks' lag was bounded, mus
    // gave it 0.60-0.61: its first thread had banked the CPU it was owed and could not
    // use, and spent it once the second thread halved its share.)
    let (m3, s3) = kubelet_phase("kubelet_boost3", None);
    close(
        "system.slice, three pods boosted",
        m3[0],
        s3[0],
        100.0 / 179.0,
    );

    // one thread against eight: unboosted like stock; boosted at least stock's 400:100
    let (m, s) = (
        shares(&run, "mus_threads", 2),
        shares(&run, "stock_threads", 2),
    );
    close("threads one", m[0], s[0], 0.5);
    let (mb, sb) = (
        shares(&run, "mus_threads_boost", 2),
        shares(&run, "stock_threads_boost", 2),
    );
    assert!(
        mb[0] >= sb[0] - 0.02,
        "boosted 1 thread: mus {:.3}, stock 400:100 {:.3}\n{why}",
        mb[0],
        sb[0]
    );
    // (one thread already has a whole CPU unboosted: the boost cannot add to it)
    assert!(
        mb[0] >= m[0] - 0.02,
        "boosted {:.3} below unboosted {:.3}\n{why}",
        mb[0],
        m[0]
    );

    // a boost taken back from one thread against eight at 100:200: 1/3 at once
    let (m, s) = (
        shares(&run, "mus_unboost", 2),
        shares(&run, "stock_unboost", 2),
    );
    eprintln!(
        "unboost one: mus {:.3} stock {:.3} theory 0.333",
        m[0], s[0]
    );
    close("unboosted one", m[0], s[0], 1.0 / 3.0);

    // cpu.max 50000/100000 on two busy threads: 45-55% of one CPU
    let (secs, used) = usages(&run, "mus_limit");
    let limit = used[0] / secs;
    assert!(
        (0.45..=0.55).contains(&limit),
        "cpu.max half a CPU: mus used {limit:.3} CPUs\n{why}"
    );

    assert_eq!(get(&run, "state_after"), "enabled", "{why}");
    assert_eq!(get(&run, "runner_rc"), "0", "{why}");
}

/// Issue "Fair to the whole node", findings on wake-ups (see scenarios/wakeups.sh): a
/// task woken onto an idle CPU gets no more than its share afterwards, a waking task
/// never waits behind a task of another scheduling class, and an unboosted task's
/// timer wake-ups next to a boosted cgroup's hogs wait a millisecond no more often
/// than under the stock scheduler. And a wake-up confined to its busy CPU runs next
/// there, as the runner's counters show.
#[test]
fn woken_tasks_carry_no_hoard_skip_other_classes_and_preempt_cpu_hogs() {
    let run = boot_with(
        "wakeups",
        include_str!("scenarios/wakeups.sh"),
        240,
        &["cyclictest", "chrt", "taskset"],
    );
    let why = run.console_tail();
    let ticks: Vec<f64> = get(&run, "hoard_ticks")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    // ticks of CPU time (USER_HZ 100) against hundredths of a second elapsed
    let cpu = ticks[0] / ticks[1];
    assert!(
        cpu <= 0.75,
        "the task woken onto an idle CPU ran {cpu:.2} of a CPU, fair is 0.5\n{why}"
    );

    let probe: Vec<u64> = get(&run, "rt_probe")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    // queued behind the FIFO hog, a wake-up waits for the fair server's 5% of that
    // CPU (up to 950 ms) again and again: the average shows it, where one late
    // sample of a busy host would not
    assert!(
        probe.len() == 2 && probe[0] < 20_000,
        "boosted probe next to a SCHED_FIFO hog: avg/max {probe:?} us\n{why}"
    );

    // the bystander's wake-ups that waited a millisecond or more, of 1500: a count
    // rather than the p99, which the host's own stalls of a vCPU (seen under every
    // scheduler, 2-4 ms) decide; in evaluation/experiments/wake_grace.sh stock had
    // 123-212 such, mus 29-429 before the fix and 10-63 after
    let over_1ms = |sched: &str| -> u64 {
        let key = format!("bystander_{sched}");
        get(&run, &key)
            .split_whitespace()
            .find_map(|f| f.strip_prefix("over1ms="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no over1ms in {key}\n{why}"))
    };
    let (mus, stock) = (over_1ms("mus"), over_1ms("stock"));
    assert!(
        mus <= stock,
        "the bystander's wake-ups waited 1 ms or more {mus} times under mus, {stock} under \
         stock with cpu.weight 400\n{why}"
    );

    // 20000 round trips between a pair confined to one CPU, two wake-ups each: all of
    // them ran next there in three guest runs (37516-39997 of 40000): at least one per trip
    let local: u64 = run
        .number("confined_pair_local_wakeups")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        local >= 20_000,
        "a pipe pair confined to one CPU made 20000 round trips, and {local} of its \
         wake-ups ran next on its CPU (at least 20000 expected)\n{why}"
    );
    assert_eq!(get(&run, "state_after"), "enabled", "{why}");
    assert_eq!(get(&run, "runner_rc"), "0", "{why}");
}

/// The short share check on 6.12 LTS: weights hold there too, and the runner says at
/// load that this kernel will not honour cpu.idle.
#[test]
fn cpu_share_follows_the_weights_on_6_12_lts_and_the_runner_names_what_it_lacks() {
    let run = boot_6_12(scenario(
        "share-6.12",
        include_str!("scenarios/share_short.sh"),
        180,
    ));
    let (even, boosted) = (share(&run, "even"), share(&run, "boosted"));
    eprintln!("6.12 shares: empty map {even:.3}, boosted 4096:1024 {boosted:.3}");
    assert!(
        (0.40..=0.60).contains(&even),
        "empty map gave a {even:.3} share"
    );
    assert!(
        boosted >= 0.75,
        "boosted cgroup got {boosted:.3}, want >= 0.75"
    );
    assert_eq!(get(&run, "runner_rc"), "0", "{}", run.console_tail());
    assert!(
        run.console
            .contains("lacks cgroup_set_idle (Linux 6.19+): cpu.idle is not honoured"),
        "the runner did not say that cpu.idle is not honoured on 6.12\n{}",
        run.console_tail()
    );
}

/// An upgrade from a runner that pinned at the old path with an older value layout
/// and capacity: every boost is carried into the new map, under /sys/fs/bpf/mus/.
#[test]
fn an_old_layout_map_at_the_old_path_is_migrated_with_every_boost() {
    let run = boot("upgrade", include_str!("scenarios/upgrade.sh"), 180);
    let why = run.console_tail();
    let old = get(&run, "old_map");
    assert!(
        old.contains("\"bytes_value\":4") && old.contains("\"max_entries\":64"),
        "{old}"
    );
    assert_eq!(get(&run, "old_entries"), "2", "{why}");

    assert_eq!(get(&run, "state"), "enabled", "{why}");
    assert_eq!(get(&run, "dir_mode"), "700", "{why}");
    assert_eq!(get(&run, "pin_mode"), "600", "{why}");
    assert_eq!(get(&run, "old_pin"), "absent", "{why}");
    let new = get(&run, "new_map");
    assert!(
        new.contains("\"bytes_value\":8") && new.contains("\"max_entries\":4096"),
        "{new}"
    );
    let dump = get(&run, "dump");
    for (id, weight) in [(get(&run, "a_id"), 4096), (get(&run, "b_id"), 2048)] {
        let entry = format!("\"key\":{id},\"value\":{{\"weight\":{weight},\"flags\":0}}");
        assert!(
            dump.replace(' ', "").contains(&entry),
            "{entry} not in {dump}"
        );
    }
    assert_eq!(get(&run, "agent_rc"), "0", "{why}");
    assert!(run.console.contains("migrated the boosts"), "{why}");
    assert_eq!(get(&run, "runner_rc"), "0", "{why}");
}

/// sysrq-S three times: each ejection is classified as the operator's, and the runner
/// reloads after 1, 2 and 4 s, boosts kept. The guest measures from the sysrq to the
/// next attach, so each gap is the delay plus a load (1 to 3 s under TCG).
#[test]
fn repeated_ejections_are_classified_and_restarted_with_a_growing_delay() {
    let run = boot("backoff", include_str!("scenarios/backoff.sh"), 180);
    let why = run.console_tail();
    for (key, delay) in [("gap1", 1.0), ("gap2", 2.0), ("gap3", 4.0)] {
        let gap = run.number::<u32>(key).unwrap_or_else(|e| panic!("{e}")) as f64 / 100.0;
        eprintln!("{key}: reattached {gap:.2} s after the sysrq (delay {delay} s)");
        assert!(
            gap >= delay,
            "{key}: reattached after {gap:.2} s, before the {delay} s delay\n{why}"
        );
    }
    assert_eq!(get(&run, "delays"), "1.0 2.0 4.0", "{why}");
    assert_eq!(get(&run, "ejections"), "3", "{why}");
    assert_eq!(get(&run, "runner_alive"), "yes", "{why}");
    let id = get(&run, "boosted_id");
    let dump = get(&run, "dump");
    assert!(
        dump.contains(&format!("\"key\":{id}")) && dump.contains("\"weight\":4096"),
        "the boost did not survive the ejections: {dump}"
    );
    assert_eq!(get(&run, "runner_rc"), "0", "{why}");
    assert_eq!(get(&run, "pin_after_term"), "absent", "{why}");
}

/// Issue "Real nodes": the two-socket, two-NUMA-node guest (8 vCPUs). The runner hands
/// the scheduler two caches; cpu.weight 300:100 shares hold across the two queues as
/// on the 2-vCPU guest (within 3 points of the theory, which the 2-vCPU fairness test
/// meets); one hog per CPU stays in its cache; hogs crammed into one cache spread to
/// the other; and a stress runs without ejection.
#[test]
fn on_a_two_socket_guest_shares_hold_across_cache_queues_and_tasks_stay_in_their_cache() {
    let run = boot_on(
        GuestKernel::Cloud,
        scenario("topology", include_str!("scenarios/topology.sh"), 500).topology(2, 4),
    );
    let why = run.console_tail();
    assert_eq!(get(&run, "nproc"), "8", "{why}");
    assert_eq!(get(&run, "l3_domains"), "0-3 4-7", "{why}");
    assert_eq!(get(&run, "numa_nodes"), "2", "{why}");
    assert_eq!(get(&run, "node0_cpus"), "0-3", "{why}");
    assert_eq!(get(&run, "node1_cpus"), "4-7", "{why}");
    let caches = get(&run, "runner_caches");
    assert!(
        caches.contains("caches=2") && caches.contains("0-3 | 4-7"),
        "the runner should hand the scheduler two caches, 0-3 and 4-7: {caches:?}\n{why}"
    );

    let stock = shares(&run, "stock_shares", 2)[0];
    let mus = shares(&run, "mus_shares", 2)[0];
    eprintln!("cpu.weight 300:100 over two caches: stock {stock:.3}, mus {mus:.3} (theory 0.75)");
    assert!(
        (mus - 0.75).abs() <= 0.03,
        "cpu.weight 300:100 across two caches gave {mus:.3} under mus (stock {stock:.3})\n{why}"
    );

    let moves = |key: &str| -> [u64; 5] {
        let nums: Vec<u64> = get(&run, key)
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        nums.try_into()
            .unwrap_or_else(|n| panic!("{key} should be five counts, got {n:?}\n{why}"))
    };
    let [samples, moved, steals, migrations, idle_steals] = moves("balanced");
    let [_, stock_moved, ..] = moves("stock_balanced");
    let [_, full_moved, full_steals, _, full_idle_steals] = moves("full");
    let [_, stock_full_moved, ..] = moves("stock_full");
    eprintln!(
        "six hogs on eight CPUs: {moved} cache changes in {samples} samples of their CPUs \
         (stock {stock_moved}); all tasks: {steals} owed and {idle_steals} idle steals, \
         {migrations} cross-cache migrations. Eight hogs: {full_moved} changes (stock \
         {stock_full_moved}), {full_steals} owed and {full_idle_steals} idle steals"
    );
    // A hog seen in the other cache now and then is tolerable (one displaced for a
    // moment, or the caches evening out a 4 + 2 start): up to one sample in 10 more
    // than the stock scheduler (runs here saw 5, 7, 9 and 14 of 180, stock 0); a hog
    // changing caches every few slices is not.
    assert!(
        samples >= 150 && moved <= stock_moved + samples / 10,
        "hogs moved between caches while nothing was owed: {moved} in {samples} samples \
         (stock {stock_moved})\n{why}"
    );

    let crammed_steals: u64 = run
        .number("crammed_steals")
        .unwrap_or_else(|e| panic!("{e}"));
    let (secs, used) = usages(&run, "crammed");
    let cpus = used[0] / secs;
    eprintln!("eight hogs released from cache 0: {crammed_steals} steals, then {cpus:.2} CPUs");
    assert!(
        crammed_steals >= 4,
        "cache 1 took fewer than four hogs: {crammed_steals}\n{why}"
    );
    assert!(
        cpus >= 7.0,
        "eight hogs used {cpus:.2} of eight CPUs\n{why}"
    );

    assert_eq!(get(&run, "state_after"), "enabled", "{why}");
    assert_eq!(get(&run, "runner_alive"), "yes", "{why}");
    assert_eq!(get(&run, "stress_rc"), "0", "{why}");
    assert_eq!(get(&run, "runner_rc"), "0", "{why}");
    for window in ["window1", "window2"] {
        let (normal_us, _) = pair(&run, window);
        assert!(
            normal_us > 0.0,
            "the normal hogs never ran in {window}\n{why}"
        );
    }
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

/// Boots Debian's cloud kernel (7.3) with the scenario on `cpus` vCPUs.
fn boot_cpus(name: &str, script: &str, timeout_s: u64, cpus: u32) -> GuestRun {
    boot_on(
        GuestKernel::Cloud,
        scenario(name, script, timeout_s).cpus(cpus),
    )
}

/// Asserts that the runner stayed attached through the scenario and exited cleanly.
fn assert_attached_throughout(run: &GuestRun) {
    let why = run.console_tail();
    assert_eq!(get(run, "state_after"), "enabled", "{why}");
    assert_eq!(get(run, "runner_alive"), "yes", "{why}");
    assert_eq!(get(run, "runner_rc"), "0", "{why}");
}

/// Issue "Scheduler, round three": cpu.max holds with 32 threads under 0.1 CPU (it
/// used 1.75 CPUs before), at both levels of nested limits, and removing the limits
/// while tasks wait throttled releases them with mus still attached. No task is held
/// back inside a system call: the 32 write themselves into the cgroup promptly.
#[test]
fn cpu_max_holds_with_many_threads_and_nested_limits_and_can_be_removed_under_load() {
    let run = boot_cpus("limits", include_str!("scenarios/limits.sh"), 300, 4);
    let why = run.console_tail();
    // `over`: how far above its quota the cgroup may go in the window.
    let within = |key: &str, i: usize, cpus: f64, over: f64| {
        let (secs, used) = usages(&run, key);
        let quota = cpus * secs;
        eprintln!(
            "{key}[{i}]: {:.3} CPU s against a quota of {quota:.3}",
            used[i]
        );
        assert!(
            used[i] <= over * quota && used[i] >= 0.5 * quota,
            "{key}[{i}] used {:.3} CPU s in {secs:.1} s, quota {quota:.3}\n{why}",
            used[i]
        );
    };
    // Moving in took 0.13-0.45 s under stock and 0.15-0.71 s under mus (mostly; once
    // 1.43 s) over three boots of evaluation/experiments/limits_stall.sh, 10-20 s when
    // a hog was held back inside its write to cgroup.procs.
    let moved = run
        .number::<f64>("many_moved_cs")
        .unwrap_or_else(|e| panic!("{e}"))
        / 100.0;
    eprintln!("32 hogs moved themselves into the limited cgroup in {moved:.2} s");
    assert!(
        moved <= 3.0,
        "32 hogs took {moved:.2} s to write themselves into a cgroup at its cpu.max: \
         a task held back inside a system call holds up every fork\n{why}"
    );
    // 32 threads under 0.1 CPU got 1.02-1.16x before two fixes that pull opposite
    // ways (evaluation/journal/limits.md): a thread held back for 1.25 s was rescued
    // as soon as it was released, so the rescues' debt grew without end; and turns were
    // charged by the clock, interrupts included. limits_many.sh: 0.99-1.01x, stock 0.99.
    within("many", 0, 0.1, 1.1);
    within("nested", 0, 0.6, 1.1);
    within("nested", 1, 0.2, 1.1);
    // unlimited, the 32 threads take far more than their old 0.1 CPU
    let (secs, used) = usages(&run, "unlimited");
    assert!(
        used[0] > 1.0 * secs,
        "after the limit went, 32 threads used {:.2} CPU s in {secs:.1} s\n{why}",
        used[0]
    );
    assert_attached_throughout(&run);
}

/// Issue "Scheduler, round three": with the shortest watchdog timeout the runner
/// accepts, 24 busy tasks in a cpu.idle cgroup next to 4 busy ones are rescued in time
/// (no ejection) and progress, also while they are reniced every 100 ms; threads of one
/// cgroup pinned to two disjoint CPU pairs each get their pair, with processes coming
/// and going.
#[test]
fn no_stall_with_a_short_watchdog_an_idle_crowd_and_disjoint_pinned_threads() {
    check_no_stall(&boot_cpus(
        "stalls",
        include_str!("scenarios/stalls.sh"),
        300,
        4,
    ));
}

/// The same stall paths on 6.12 LTS, the first kernel on which a CPU that declines to
/// run its task and dispatches nothing is not rescheduled (the pinned threads' case).
/// 6.12 does not tell a scheduler about cpu.idle (6.19 does): there the crowd's
/// cpu.weight of 1 starves it as cpu.idle does on 7.3.
#[test]
fn no_stall_on_6_12_lts_with_a_short_watchdog_and_disjoint_pinned_threads() {
    let run = boot_6_12(scenario("stalls-6.12", include_str!("scenarios/stalls.sh"), 300).cpus(4));
    check_no_stall(&run);
}

/// What the stall scenario shows on every kernel: mus attached through each phase and
/// after, the starving crowd rescued by the budgeted pass and progressing, each pinned
/// pair of CPUs busy with its own threads.
fn check_no_stall(run: &GuestRun) {
    let why = run.console_tail();
    let rescues: Vec<u64> = get(run, "reniced_rescues")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [all, late] = rescues[..] else {
        panic!("reniced_rescues: {rescues:?}\n{why}")
    };
    eprintln!("reniced crowd: {all} rescues, {late} of them late");
    assert!(all > 0, "the reniced crowd was never rescued\n{why}");
    // by the budgeted pass: a requeue keeps the count it goes by (when it restarted it,
    // 304 of 1165 were late; 0 of 1135 since)
    assert!(
        late * 10 <= all,
        "{late} of {all} rescues of the reniced crowd came by the hard bound\n{why}"
    );
    assert_eq!(get(run, "state_idle"), "enabled", "{why}");
    assert_eq!(get(run, "state_reniced"), "enabled", "{why}");
    let (_, used) = usages(run, "idle_next_to_busy");
    assert!(used[0] > 0.0, "the cpu.idle crowd never ran\n{why}");
    let ticks: Vec<f64> = get(run, "pinned_ticks")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [high, low, hz] = ticks[..] else {
        panic!("pinned_ticks: {ticks:?}\n{why}")
    };
    // each pair of CPUs is kept busy by its own threads: over 10 s, at least one CPU
    // (CPUs 0-1 also run the churn and the scenario's shell)
    eprintln!(
        "pinned: CPUs 2-3 {:.2} CPU s, CPUs 0-1 {:.2}",
        high / hz,
        low / hz
    );
    assert!(
        high / hz > 10.0,
        "threads on CPUs 2-3 got {:.2} CPU s\n{why}",
        high / hz
    );
    assert!(
        low / hz > 10.0,
        "threads on CPUs 0-1 got {:.2} CPU s\n{why}",
        low / hz
    );
    assert_eq!(get(run, "churn_rc"), "0", "{why}");
    assert_attached_throughout(run);
    assert!(
        !why.contains("stall"),
        "the watchdog reported a stall\n{why}"
    );
}

/// Issue "Scheduler, round three": every churn the stall paths care about, at once, for
/// a minute under the shortest watchdog timeout the runner accepts (a cpu.idle crowd
/// flipped and reniced, weights and boosts toggled, cpu.max cycled and removed over
/// threads in system calls, nested limits with moves, affinity changes, forks, cgroups
/// made and removed): mus stays attached throughout and every cgroup gets CPU. Run for
/// 300 s on 7.3 and 6.12 it held as well (evaluation/journal/stalls.md).
#[test]
fn no_stall_with_every_churn_at_once() {
    check_churn(&boot_cpus(
        "chaos",
        include_str!("scenarios/chaos.sh"),
        400,
        4,
    ));
}

/// The same minute on 6.12 LTS, which honours neither cpu.idle nor cpu.max under a
/// sched_ext scheduler: their churn is still written, and still must not stall.
#[test]
fn no_stall_on_6_12_lts_with_every_churn_at_once() {
    check_churn(&boot_6_12(
        scenario("chaos-6.12", include_str!("scenarios/chaos.sh"), 400).cpus(4),
    ));
}

fn check_churn(run: &GuestRun) {
    let why = run.console_tail();
    let marks = run.all("soak");
    assert_eq!(marks.len(), 6, "a mark every 10 s of 60: {marks:?}\n{why}");
    for mark in &marks {
        assert!(mark.ends_with(" enabled"), "at {mark}\n{why}");
    }
    for line in run.all("soak_usage") {
        let (cgroup, usec) = line.split_once(' ').unwrap_or((line, ""));
        let usec: u64 = usec.parse().unwrap_or(0);
        assert!(usec > 0, "cgroup chaos/{cgroup} never ran\n{why}");
    }
    assert_eq!(run.all("soak_usage").len(), 7, "{why}");
    assert_attached_throughout(run);
    assert!(
        !why.contains("stall"),
        "the watchdog reported a stall\n{why}"
    );
}

/// One cgroup's entry of the wait histograms as bpftool prints it (`{}`: none), summed
/// over the CPUs.
fn waits_entry(run: &GuestRun, key: &str) -> CgroupWaits {
    let text = get(run, key);
    let json: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {text}\n{}", run.console_tail()));
    let json = json.get("formatted").unwrap_or(&json);
    let mut sum = CgroupWaits::default();
    let Some(cpus) = json.get("values").and_then(|v| v.as_array()) else {
        return sum;
    };
    let word = |v: &serde_json::Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("{key}: {v} is not a number"))
    };
    for cpu in cpus {
        let value = &cpu["value"];
        for (c, hist) in [&mut sum.others, &mut sum.own].into_iter().enumerate() {
            for (b, n) in hist.buckets.iter_mut().enumerate() {
                *n += word(&value["hist"][c][b]);
            }
            hist.total_ns += word(&value["wait_ns"][c]);
        }
        sum.throttled_ns += word(&value["throttled_ns"]);
        sum.throttled_waits += word(&value["throttled_waits"]);
    }
    sum
}

/// Issue 22, item 1: each cgroup's run-queue waits, by whose doing they are. One busy
/// thread next to eight waits behind the others; eight alone on two CPUs wait on their
/// own account; a cgroup under its own cpu.max is throttled, not delayed by others; and
/// `--no-wait-histograms` records nothing.
#[test]
fn run_queue_waits_are_told_apart_by_whose_doing_they_are() {
    let run = boot("waits", include_str!("scenarios/waits.sh"), 300);
    let why = run.console_tail();
    let phase = |name: &str| -> CgroupWaits {
        let w = waits_entry(&run, &format!("{name}_after"))
            .since(&waits_entry(&run, &format!("{name}_before")));
        let ms = |ns: u64| ns as f64 / 1e6;
        eprintln!(
            "{name}: others {} waits {:.1} ms p50 {:?} p99 {:?}; own {} waits {:.1} ms p50 \
             {:?} p99 {:?}; throttled {:.1} ms in {} waits",
            w.others.count(),
            ms(w.others.total_ns),
            w.others.percentile(0.5),
            w.others.percentile(0.99),
            w.own.count(),
            ms(w.own.total_ns),
            w.own.percentile(0.5),
            w.own.percentile(0.99),
            ms(w.throttled_ns),
            w.throttled_waits
        );
        w
    };
    assert_eq!(get(&run, "waits_pin_mode"), "600", "{why}");

    // (a) one thread next to eight: at least 90 % of its waiting behind the others. How
    // often it waits depends on the host's speed (CI saw 94 waits in 10 s, 179 ms in
    // all), so the count only has to show it waited at all, many times.
    let solo = phase("solo");
    assert!(
        solo.others.count() >= 30 && solo.others.total_ns >= 9 * solo.own.total_ns,
        "one thread next to eight: {solo:?}\n{why}"
    );
    // ... which --monitor shows too
    assert_eq!(get(&run, "monitor_rc"), "0", "{why}");
    let line = get(&run, "monitor_solo");
    assert!(
        line.starts_with(&format!("waits cgroup={} others=", get(&run, "solo_id")))
            && line.contains("others_p99<"),
        "{line:?}\n{why}"
    );

    // (b) eight alone on two CPUs: at least 90 % their own
    let crowd = phase("crowd");
    assert!(
        crowd.own.count() >= 100 && crowd.own.total_ns >= 9 * crowd.others.total_ns,
        "eight threads alone: {crowd:?}\n{why}"
    );

    // (c) two threads under 0.2 CPU: held back most of the 10 s (each thread runs 1 s
    // of them), and next to no wait behind others
    let capped = phase("capped");
    assert!(
        capped.throttled_ns >= 10_000_000_000 && capped.throttled_waits >= 10,
        "two threads under cpu.max 0.2: {capped:?}\n{why}"
    );
    assert!(
        capped.others.total_ns * 20 <= capped.throttled_ns,
        "a cgroup throttled by its own cpu.max waited behind others: {capped:?}\n{why}"
    );

    assert_attached_throughout(&run);
    assert_eq!(get(&run, "waits_pin_after_term"), "absent", "{why}");
    // off: no entry at all
    assert_eq!(get(&run, "off"), "{}", "{why}");
    assert_eq!(get(&run, "off_runner_rc"), "0", "{why}");
}
