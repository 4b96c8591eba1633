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
/// The latency benchmark's conditions: CONDITIONS, and what the host adds (the probe as
/// SCHED_FIFO 90 under stock with the noise: the kernel runs it above every fair and
/// sched_ext task, so no scheduler delays it, and its tail is the host's stalls).
pub fn latency_conditions() -> Vec<&'static str> {
    CONDITIONS.iter().copied().chain(["stock_fifo"]).collect()
}
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
/// The cost benchmark's schedulers (sched_ext only: the stock class runs no BPF).
pub const COST_CONDITIONS: &[&str] = &["mus_idle", "bpfland_idle", "layered_idle"];

pub fn label(condition: &str) -> &str {
    match condition {
        "stock_idle" => "stock, idle",
        "stock_noise" => "stock, noise",
        "stock_plain" => "stock",
        "stock_knobs" => "stock, noise, cpu.weight=10000 + cpu.idle=1",
        "stock_w400" => "stock, target cpu.weight 400:100 (the kernel's 4x)",
        "stock_fifo" => "stock, noise, the probe SCHED_FIFO 90 (what the host adds)",
        "mus_empty" => "mus, empty map",
        "mus_boost" => "mus, target boosted (4096)",
        "mus_empty_idle" | "mus_idle" => "mus, empty map",
        "bpfland_noise" | "bpfland_plain" | "bpfland_idle" => "scx_bpfland",
        "layered_boost" => "scx_layered, target in the 4x layer",
        "layered_plain" | "layered_idle" => "scx_layered",
        other => other,
    }
}

/// Short labels for plot axes.
pub fn short_label(condition: &str) -> &str {
    match condition {
        "stock_idle" => "stock idle",
        "stock_noise" => "stock",
        "stock_plain" => "stock",
        "stock_knobs" => "stock knobs",
        "stock_w400" => "stock w400",
        "stock_fifo" => "FIFO (host)",
        "mus_empty" => "mus empty",
        "mus_boost" => "mus boost",
        "mus_empty_idle" | "mus_idle" => "mus",
        "bpfland_noise" | "bpfland_plain" | "bpfland_idle" => "bpfland",
        "layered_boost" => "layered 4x",
        "layered_plain" | "layered_idle" => "layered",
        other => other,
    }
}
