//! What mus uses that arrived after 6.12, probed in the running kernel's BTF at load and
//! named once in the log with what it costs, so that an operator on an LTS kernel knows
//! which guarantees hold there. The BPF side already falls back for each (scx's compat
//! helpers, and libbpf leaving out an unknown struct_ops callback); this says so.

use scx_utils::compat::{ksym_exists, struct_has_field};
use tracing::{info, warn};

/// How to tell whether the kernel has a feature.
enum Probe {
    /// A callback of `struct sched_ext_ops`.
    Callback(&'static str),
    /// A kfunc.
    Kfunc(&'static str),
}

struct Feature {
    probe: Probe,
    since: &'static str,
    /// What is different without it.
    without: &'static str,
}

const FEATURES: &[Feature] = &[
    Feature {
        probe: Probe::Callback("cgroup_set_bandwidth"),
        since: "6.17",
        without: "cpu.max is NOT enforced: the kernel does not hand cgroup quotas to sched_ext \
                  schedulers, so a limited cgroup may use more than its limit",
    },
    Feature {
        probe: Probe::Callback("cgroup_set_idle"),
        since: "6.19",
        without: "cpu.idle is not honoured: a cgroup with cpu.idle=1 competes at its \
                  cpu.weight like any other",
    },
    Feature {
        probe: Probe::Kfunc("scx_bpf_dsq_peek"),
        since: "6.19",
        without: "the queue's head is found by iterating the queue instead of a lockless peek",
    },
    Feature {
        probe: Probe::Kfunc("scx_bpf_now"),
        since: "6.14",
        without: "time is read with bpf_ktime_get_ns() instead of the cached runqueue clock",
    },
];

/// Logs each feature this kernel lacks, and what mus does without it.
pub fn report() {
    let mut missing = 0;
    for feature in FEATURES {
        let (present, name) = match feature.probe {
            Probe::Callback(field) => (struct_has_field("sched_ext_ops", field), field),
            Probe::Kfunc(kfunc) => (ksym_exists(kfunc), kfunc),
        };
        if let Ok(false) = present {
            missing += 1;
            warn!(
                feature = name,
                since = feature.since,
                "this kernel lacks {name} (Linux {}+): {}",
                feature.since,
                feature.without
            );
        }
    }
    if missing == 0 {
        info!("the kernel has every sched_ext feature mus uses");
    }
}
