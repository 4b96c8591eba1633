//! What per-cgroup fair sharing (the kernel's fair class with `cpu.weight` at every level)
//! gives the cgroups of the share benchmarks, and what a boost's weight gives the target,
//! to compare each scheduler against. The
//! layouts mirror xtask/scenarios/bench.sh (threads, weights) and the guest's 2 vCPUs.
//! The model is `mus_common::shares`, the one `mus-agent plan` predicts a node with.

use mus_common::shares::{Group, allocate, water_fill};

/// CPUs of the bench guest (mus-testbed's default).
pub const GUEST_CPUS: f64 = 2.0;

/// In % of the two cgroups' CPU time: the threads benchmark's target (1 busy thread)
/// against a neighbour with 8, the target at `factor` times the neighbour's weight. With
/// 2 CPUs one thread caps the target at half the time, whatever its factor.
pub fn threads_target_pct(factor: f64) -> f64 {
    let got = water_fill(GUEST_CPUS, &[(factor, 1.0), (1.0, 8.0)]);
    100.0 * got[0] / GUEST_CPUS
}

/// The weights benchmark's flat pair: wa (300, 2 threads) against wb (100, 2 threads):
/// wa's % of the pair's CPU time.
pub fn weights_flat_pct() -> f64 {
    let got = water_fill(GUEST_CPUS, &[(300.0, 2.0), (100.0, 2.0)]);
    100.0 * got[0] / GUEST_CPUS
}

/// The nested tree: nA (200) with x (100, 1 thread) and y (100, 2 threads) against nB
/// (100) with z (100, 2 threads). Each cgroup's % of the CPU time, by name.
pub fn weights_nested_pct() -> Vec<(&'static str, f64)> {
    let tree = Group::children(
        1.0,
        vec![
            Group::children(
                200.0,
                vec![Group::tasks(100.0, 1.0), Group::tasks(100.0, 2.0)],
            ),
            Group::children(100.0, vec![Group::tasks(100.0, 2.0)]),
        ],
    );
    let got = allocate(GUEST_CPUS, &tree);
    let (a, b) = (&got.children[0], &got.children[1]);
    let pct = |cpus: f64| 100.0 * cpus / GUEST_CPUS;
    vec![
        ("nA", pct(a.cpus)),
        ("nB", pct(b.cpus)),
        ("nA/x", pct(a.children[0].cpus)),
        ("nA/y", pct(a.children[1].cpus)),
        ("nB/z", pct(b.children[0].cpus)),
    ]
}

/// The CPU share a weight should give the target against one ordinary (1024) cgroup, in %.
pub fn share_theory_pct(weight: f64) -> f64 {
    100.0 * weight / (weight + 1024.0)
}

/// cpu.max "50000 100000": half of one CPU, in % of one CPU.
pub const LIMIT_CPU_PCT: f64 = 50.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn the_benchmarks_theories() {
        assert!(close(threads_target_pct(1.0), 50.0));
        assert!(close(threads_target_pct(4.0), 50.0));
        assert!(close(weights_flat_pct(), 75.0));
        let n = weights_nested_pct();
        let get = |k: &str| n.iter().find(|(name, _)| *name == k).unwrap().1;
        assert!((get("nA") - 66.667).abs() < 0.01);
        assert!((get("nB") - 33.333).abs() < 0.01);
        // x (1 thread) and y (2 threads) split nA's share equally: threads do not count
        assert!(close(get("nA/x"), get("nA/y")));
        assert!(close(get("nB/z"), get("nB")));
    }

    #[test]
    fn theory_of_weights() {
        assert_eq!(share_theory_pct(4096.0), 80.0);
        assert!((share_theory_pct(2048.0) - 66.667).abs() < 0.01);
        assert!((share_theory_pct(8192.0) - 88.889).abs() < 0.01);
        assert_eq!(share_theory_pct(1024.0), 50.0);
    }
}
