//! The benchmarks' conditions ("<scheduler>_<variant>", as xtask/scenarios/bench.sh
//! names them) in table order, and their labels in the summary and on the plots.

/// The conditions of the latency and fixed-rate Redis benchmarks, in table order.
pub const CONDITIONS: &[&str] = &[
    "stock_idle",
    "stock_noise",
    "stock_knobs",
    "mus_empty",
    "mus_boost",
    "bpfland_noise",
    "layered_boost",
];
/// The floor of a latency table: the probe as SCHED_FIFO 90 under stock with the same
/// noise. The kernel runs it above every fair and sched_ext task, so no scheduler delays
/// it: the best a priority can do, and its tail is the host's own stalls.
pub const FIFO_FLOOR: &str = "stock_fifo";
/// The suffix of a condition run with the host's CPU contended (bench.sh: one busy
/// thread on the host, started and stopped by the guest between conditions).
pub const HOST: &str = "_host";

/// The latency benchmark's conditions on a quiet host: CONDITIONS and the floor.
pub fn latency_conditions() -> Vec<&'static str> {
    CONDITIONS.iter().copied().chain([FIFO_FLOOR]).collect()
}
/// The latency benchmark's conditions with the host contended: the boosted probe, its
/// references (stock idle for the bound, stock's knobs) and the floor.
pub const LATENCY_HOST_CONDITIONS: &[&str] = &[
    "stock_idle_host",
    "stock_knobs_host",
    "mus_boost_host",
    "stock_fifo_host",
];
/// The bystander benchmark's conditions on a quiet host: BOOST_CONDITIONS and the floor.
pub fn bystander_conditions() -> Vec<&'static str> {
    BOOST_CONDITIONS
        .iter()
        .copied()
        .chain([FIFO_FLOOR])
        .collect()
}
/// The bystander benchmark's conditions with the host contended: mus boosted, stock with
/// its own 4x, and the floor.
pub const BYSTANDER_HOST_CONDITIONS: &[&str] =
    &["stock_w400_host", "mus_boost_host", "stock_fifo_host"];
/// The saturated-Redis and bystander benchmarks' conditions (all under noise).
pub const BOOST_CONDITIONS: &[&str] = &[
    "stock_noise",
    "stock_w400",
    "mus_boost",
    "bpfland_noise",
    "layered_boost",
];
/// The threads benchmark's conditions.
pub const THREADS_CONDITIONS: &[&str] = &[
    "stock_plain",
    "stock_w400",
    "mus_empty",
    "mus_boost",
    "bpfland_plain",
    "layered_boost",
];
/// The weights and limit benchmarks' conditions (no boost anywhere).
pub const PLAIN_CONDITIONS: &[&str] =
    &["stock_plain", "mus_empty", "bpfland_plain", "layered_plain"];
/// The overhead benchmark's conditions (no noise).
pub const OVERHEAD_CONDITIONS: &[&str] = &[
    "stock_idle",
    "mus_empty_idle",
    "bpfland_idle",
    "layered_idle",
];
/// The rr benchmark's conditions (no noise): stock unboosted, its baseline; mus boosted;
/// scx_bpfland; scx_layered with target in its 4x layer.
pub const RR_CONDITIONS: &[&str] = &["stock_idle", "mus_boost", "bpfland_idle", "layered_boost"];
/// The rr benchmark's reference: the stock scheduler, nothing boosted.
pub const RR_STOCK: &str = "stock_idle";
/// The rr benchmark's two runs per condition, as the rows' benchmarks (results.rs), with
/// what they mean (the target cgroup confined to one CPU by `cpuset.cpus`, and not) and
/// a short label for the plot.
pub const RR_MODES: &[(&str, &str, &str)] = &[
    ("rr_one", "confined to one CPU", "1 CPU"),
    ("rr_all", "unconfined", "all CPUs"),
];
/// The cost benchmark's schedulers (sched_ext only: the stock class runs no BPF).
pub const COST_CONDITIONS: &[&str] = &["mus_idle", "bpfland_idle", "layered_idle"];

/// The summary's name of a condition; a host-contended one says so.
pub fn label(condition: &str) -> String {
    if let Some(base) = condition.strip_suffix(HOST) {
        return format!("{}, host contended", label(base));
    }
    match condition {
        "stock_idle" => "stock, idle",
        "stock_noise" => "stock, noise",
        "stock_plain" => "stock",
        "stock_knobs" => "stock, noise, cpu.weight=10000 + cpu.idle=1",
        "stock_w400" => "stock, target cpu.weight 400:100 (the kernel's 4x)",
        "stock_fifo" => "floor: stock, noise, the probe SCHED_FIFO 90 (chrt -f 90)",
        "mus_empty" => "mus, empty map",
        "mus_boost" => "mus, target boosted (4096)",
        "mus_empty_idle" | "mus_idle" => "mus, empty map",
        "bpfland_noise" | "bpfland_plain" | "bpfland_idle" => "scx_bpfland",
        "layered_boost" => "scx_layered, target in the 4x layer",
        "layered_plain" | "layered_idle" => "scx_layered",
        other => other,
    }
    .to_string()
}

/// Short labels for plot axes.
pub fn short_label(condition: &str) -> String {
    if let Some(base) = condition.strip_suffix(HOST) {
        return format!("{} +host", short_label(base));
    }
    match condition {
        "stock_idle" => "stock idle",
        "stock_noise" => "stock",
        "stock_plain" => "stock",
        "stock_knobs" => "stock knobs",
        "stock_w400" => "stock w400",
        "stock_fifo" => "FIFO floor",
        "mus_empty" => "mus empty",
        "mus_boost" => "mus boost",
        "mus_empty_idle" | "mus_idle" => "mus",
        "bpfland_noise" | "bpfland_plain" | "bpfland_idle" => "bpfland",
        "layered_boost" => "layered 4x",
        "layered_plain" | "layered_idle" => "layered",
        other => other,
    }
    .to_string()
}
