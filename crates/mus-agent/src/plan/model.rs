//! From the sampled tree to shares before and after a boost, through the one share
//! model (`mus_common::shares`).
//!
//! Demand: a leaf cgroup is busy when it used at least [`BUSY_CPUS`] over the sample
//! or had a runnable thread in at least half the counts; a busy cgroup is assumed to
//! take all it can under contention: as many CPUs as it has runnable threads, and at
//! least its current use rounded up to whole CPUs, less a measuring error of
//! `MEASURED_OVER` (all the demand there is when its threads are not visible from
//! this PID namespace). `cpu.max` caps it and every
//! ancestor in the model itself. Weights are what mus honours: `cpu.weight`, times
//! W / 1024 for a map entry of weight W (at least 1), or 1 under `cpu.idle`.

use std::collections::HashMap;
use std::path::PathBuf;

use mus_common::Weight;
use mus_common::shares::{Group, Load, Share, allocate};

use super::tree::Tree;

/// A cgroup using less than this (in CPUs) and with no thread runnable most of the
/// sample is idle: it asks for nothing under contention.
pub const BUSY_CPUS: f64 = 0.01;

/// How far above a whole number of CPUs a use may be measured and still count as
/// that many: a thread that has a CPU to itself is measured a little over it (the
/// reads of `cpu.stat` and of the clock are not one instant).
const MEASURED_OVER: f64 = 0.05;

/// The CPUs a leaf that used `usage` with `runnable` threads would take.
pub fn demand(usage: f64, runnable: u32) -> f64 {
    if usage < BUSY_CPUS && runnable == 0 {
        return 0.0;
    }
    let used = (usage - MEASURED_OVER).ceil().max(1.0);
    f64::from(runnable).max(used)
}

/// A cgroup's weight among its siblings as mus computes it: `cpu.weight` times its
/// boost / 1024 (never 0), else 1 under `cpu.idle`, else `cpu.weight`.
pub fn weight_in_parent(weight: u32, idle: bool, boost: Option<u32>) -> f64 {
    match boost {
        Some(b) => {
            (u64::from(weight) * u64::from(b) / u64::from(Weight::NORMAL.get())).max(1) as f64
        }
        None if idle => 1.0,
        None => f64::from(weight),
    }
}

/// CPUs each node of `tree` gets out of `cpus`, by node index, with `boosts` (map
/// weights by cgroup ID) applied.
pub fn shares(tree: &Tree, cpus: f64, boosts: &HashMap<u64, u32>) -> Vec<f64> {
    let group = to_group(tree, 0, boosts);
    let mut got = vec![0.0; tree.nodes.len()];
    collect(tree, 0, &allocate(cpus, &group), &mut got);
    got
}

fn to_group(tree: &Tree, i: usize, boosts: &HashMap<u64, u32>) -> Group {
    let node = &tree.nodes[i];
    let boost = node.id.and_then(|id| boosts.get(&id).copied());
    let load = if node.children.is_empty() {
        // The root's own tasks (kernel threads) are left out: they are not busy on a
        // node whose CPU is contended by pods.
        Load::Tasks(if i == 0 {
            0.0
        } else {
            demand(node.usage, node.runnable)
        })
    } else {
        Load::Children(
            node.children
                .iter()
                .map(|&c| to_group(tree, c, boosts))
                .collect(),
        )
    };
    Group {
        weight: weight_in_parent(node.weight, node.idle, boost),
        limit: node.limit,
        load,
    }
}

fn collect(tree: &Tree, i: usize, share: &Share, got: &mut [f64]) {
    got[i] = share.cpus;
    for (&c, child) in tree.nodes[i].children.iter().zip(&share.children) {
        collect(tree, c, child, got);
    }
}

/// The map as it would be with `targets` at `weight`.
pub fn with_boost(
    boosts: &HashMap<u64, u32>,
    tree: &Tree,
    targets: &[PathBuf],
    weight: Weight,
) -> HashMap<u64, u32> {
    let mut after = boosts.clone();
    for id in targets
        .iter()
        .filter_map(|t| tree.find(t))
        .filter_map(|i| tree.nodes[i].id)
    {
        after.insert(id, weight.get());
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_of_busy_and_idle_cgroups() {
        assert_eq!(demand(0.0, 0), 0.0);
        assert_eq!(demand(0.005, 0), 0.0, "a daemon's tick is not demand");
        assert_eq!(demand(0.3, 0), 1.0, "threads not visible: use rounded up");
        assert_eq!(
            demand(0.3, 4),
            4.0,
            "four runnable threads can use four CPUs"
        );
        assert_eq!(demand(1.6, 1), 2.0);
        assert_eq!(
            demand(1.03, 1),
            1.0,
            "one thread on one CPU, measured over it"
        );
        assert_eq!(demand(0.03, 0), 1.0);
        assert_eq!(demand(0.001, 1), 1.0, "starved but runnable: busy");
    }

    #[test]
    fn weights_as_mus_honours_them() {
        assert_eq!(weight_in_parent(10, false, None), 10.0);
        assert_eq!(weight_in_parent(10, false, Some(4096)), 40.0);
        assert_eq!(weight_in_parent(1, false, Some(512)), 1.0, "never 0");
        assert_eq!(weight_in_parent(100, true, None), 1.0);
        assert_eq!(
            weight_in_parent(100, true, Some(2048)),
            200.0,
            "a boost wins"
        );
    }
}
