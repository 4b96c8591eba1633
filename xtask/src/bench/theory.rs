//! What per-cgroup fair sharing (the kernel's fair class with `cpu.weight` at every level)
//! gives the cgroups of the share benchmarks, and what a boost's weight gives the target,
//! to compare each scheduler against. The
//! layouts mirror xtask/scenarios/bench.sh (threads, weights) and the guest's 2 vCPUs.

/// CPUs of the bench guest (mus-testbed's default).
pub const GUEST_CPUS: f64 = 2.0;

/// Weighted max-min ("water-filling") split of `capacity` CPUs among groups of
/// `(weight, demand in CPUs)`: each gets capacity in proportion to its weight, but never
/// more than its demand; what a capped group leaves goes to the others by weight.
pub fn water_fill(capacity: f64, groups: &[(f64, f64)]) -> Vec<f64> {
    let mut got = vec![0.0; groups.len()];
    let mut open: Vec<usize> = (0..groups.len()).filter(|&i| groups[i].1 > 0.0).collect();
    let mut left = capacity;
    while !open.is_empty() && left > 1e-12 {
        let total_w: f64 = open.iter().map(|&i| groups[i].0).sum();
        if total_w <= 0.0 {
            break;
        }
        // the groups whose demand is below their proportional cut are capped at it
        let capped: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| groups[i].1 - got[i] <= left * groups[i].0 / total_w)
            .collect();
        if capped.is_empty() {
            for &i in &open {
                got[i] += left * groups[i].0 / total_w;
            }
            break;
        }
        for &i in &capped {
            left -= groups[i].1 - got[i];
            got[i] = groups[i].1;
        }
        open.retain(|i| !capped.contains(i));
    }
    got
}

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
    let top = water_fill(GUEST_CPUS, &[(200.0, 3.0), (100.0, 2.0)]);
    let a = water_fill(top[0], &[(100.0, 1.0), (100.0, 2.0)]);
    let b = water_fill(top[1], &[(100.0, 2.0)]);
    let pct = |cpus: f64| 100.0 * cpus / GUEST_CPUS;
    vec![
        ("nA", pct(top[0])),
        ("nB", pct(top[1])),
        ("nA/x", pct(a[0])),
        ("nA/y", pct(a[1])),
        ("nB/z", pct(b[0])),
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
    fn water_filling_caps_demand_and_passes_on_the_rest() {
        // 4:1 on 2 CPUs, both with ample demand: 1.6 / 0.4
        let g = water_fill(2.0, &[(4.0, 8.0), (1.0, 8.0)]);
        assert!(close(g[0], 1.6) && close(g[1], 0.4), "{g:?}");
        // the 4x group can only use one CPU: the other gets the rest
        let g = water_fill(2.0, &[(4.0, 1.0), (1.0, 8.0)]);
        assert!(close(g[0], 1.0) && close(g[1], 1.0), "{g:?}");
        // total demand under capacity: everyone gets its demand
        let g = water_fill(2.0, &[(1.0, 0.5), (1.0, 0.5)]);
        assert!(close(g[0], 0.5) && close(g[1], 0.5));
        assert!(water_fill(2.0, &[]).is_empty());
        assert_eq!(water_fill(2.0, &[(1.0, 0.0)]), [0.0]);
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
