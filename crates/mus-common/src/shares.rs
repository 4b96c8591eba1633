//! What share of the CPUs each cgroup gets under contention, when the CPU follows
//! `cpu.weight` at every level of the tree (as the kernel's fair class and mus do) and
//! `cpu.max` caps a cgroup: hierarchical weighted water-filling.
//!
//! At each level the CPU a cgroup got is divided among its children in proportion to
//! their weights; a child that cannot use its cut (its tasks want less, or its limit is
//! lower) keeps only what it can use, and what it leaves goes to the others by weight.
//! The model knows nothing of how demand was measured or of what a weight means (a
//! boost, `cpu.idle`): callers fold that into [`Group`] (`mus-agent plan` from a node's
//! live tree, the bench's theories from their layouts).

/// One cgroup: its weight among its siblings, its `cpu.max` in CPUs, and what runs in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub weight: f64,
    /// `cpu.max` quota / period, in CPUs; `None` for `max`.
    pub limit: Option<f64>,
    pub load: Load,
}

/// What a cgroup holds: tasks, or child cgroups (cgroup v2 keeps tasks out of a cgroup
/// whose children have the cpu controller, so a cgroup has one or the other).
#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    /// How many CPUs its tasks would use if given all they ask (0 when idle).
    Tasks(f64),
    Children(Vec<Group>),
}

/// What one cgroup of the tree got, in CPUs, with its children's in the same order.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub cpus: f64,
    pub children: Vec<Share>,
}

impl Group {
    /// A cgroup of tasks that can use `demand` CPUs.
    pub fn tasks(weight: f64, demand: f64) -> Group {
        Group {
            weight,
            limit: None,
            load: Load::Tasks(demand),
        }
    }

    /// A cgroup of child cgroups.
    pub fn children(weight: f64, children: Vec<Group>) -> Group {
        Group {
            weight,
            limit: None,
            load: Load::Children(children),
        }
    }

    /// The same cgroup capped at `cpus` (its `cpu.max`).
    pub fn limited(self, cpus: f64) -> Group {
        Group {
            limit: Some(cpus),
            ..self
        }
    }

    /// The CPUs this cgroup can use at most: its tasks' or children's demand, capped by
    /// its limit.
    pub fn demand(&self) -> f64 {
        let wanted = match &self.load {
            Load::Tasks(d) => d.max(0.0),
            Load::Children(children) => children.iter().map(Group::demand).sum(),
        };
        self.limit.map_or(wanted, |l| wanted.min(l.max(0.0)))
    }
}

/// What each cgroup of `root`'s tree gets of `capacity` CPUs (the root gets the
/// capacity or its demand, whichever is less).
pub fn allocate(capacity: f64, root: &Group) -> Share {
    split(capacity.min(root.demand()), root)
}

/// Divides `got` CPUs, what `group` was given, among its children.
fn split(got: f64, group: &Group) -> Share {
    let children = match &group.load {
        Load::Tasks(_) => Vec::new(),
        Load::Children(children) => {
            let claims: Vec<(f64, f64)> = children.iter().map(|c| (c.weight, c.demand())).collect();
            water_fill(got, &claims)
                .into_iter()
                .zip(children)
                .map(|(cpus, child)| split(cpus, child))
                .collect()
        }
    };
    Share {
        cpus: got,
        children,
    }
}

/// Weighted max-min ("water-filling") split of `capacity` CPUs among groups of
/// `(weight, demand in CPUs)`: each gets capacity in proportion to its weight, but never
/// more than its demand; what a capped group leaves goes to the others by weight.
pub fn water_fill(capacity: f64, groups: &[(f64, f64)]) -> Vec<f64> {
    let mut got = vec![0.0; groups.len()];
    let mut open: Vec<usize> = (0..groups.len())
        .filter(|&i| groups[i].1 > 0.0 && groups[i].0 > 0.0)
        .collect();
    let mut left = capacity;
    while !open.is_empty() && left > 1e-12 {
        let total_w: f64 = open.iter().map(|&i| groups[i].0).sum();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
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
        // a capped group's leftover is passed on in several rounds
        let g = water_fill(3.0, &[(1.0, 0.2), (1.0, 0.5), (1.0, 5.0)]);
        assert!(
            close(g[0], 0.2) && close(g[1], 0.5) && close(g[2], 2.3),
            "{g:?}"
        );
    }

    /// design.md's kubelet tree on 2 CPUs: system.slice (100, one thread) against
    /// kubepods.slice (79): the Guaranteed pod (39, two threads), the burstable slice
    /// (20: pods of 10, one and four threads), the BestEffort slice and pod (1).
    fn kubelet_tree(burstable1: f64) -> Group {
        Group::children(
            1.0,
            vec![
                Group::tasks(100.0, 1.0),
                Group::children(
                    79.0,
                    vec![
                        Group::tasks(39.0, 2.0),
                        Group::children(
                            20.0,
                            vec![Group::tasks(burstable1, 1.0), Group::tasks(10.0, 4.0)],
                        ),
                        Group::children(1.0, vec![Group::tasks(1.0, 4.0)]),
                    ],
                ),
            ],
        )
    }

    #[test]
    fn the_kubelet_tree_of_the_design_note() {
        let s = allocate(2.0, &kubelet_tree(10.0));
        // system.slice is owed 100/179 of 2 CPUs but one thread uses only one
        assert!(close(s.children[0].cpus, 1.0));
        let kube = &s.children[1];
        assert!(close(kube.cpus, 1.0));
        assert!(close(kube.children[0].cpus, 39.0 / 60.0));
        let burstable = &kube.children[1];
        assert!(close(burstable.children[0].cpus, 10.0 / 60.0));
        assert!(close(burstable.children[1].cpus, 10.0 / 60.0));
        assert!(close(kube.children[2].children[0].cpus, 1.0 / 60.0));
        // burstable pod 1 boosted 4x: it takes from its sibling only
        let b = allocate(2.0, &kubelet_tree(40.0));
        assert!(close(b.children[0].cpus, 1.0));
        assert!(close(b.children[1].children[0].cpus, 39.0 / 60.0));
        let burstable = &b.children[1].children[1];
        assert!(close(burstable.children[0].cpus, 0.8 * 20.0 / 60.0));
        assert!(close(burstable.children[1].cpus, 0.2 * 20.0 / 60.0));
    }

    #[test]
    fn a_limit_caps_a_subtree_and_its_siblings_take_the_rest() {
        // two parents of equal weight on 4 CPUs; the first capped at half a CPU,
        // whatever its children want
        let tree = Group::children(
            1.0,
            vec![
                Group::children(
                    100.0,
                    vec![Group::tasks(100.0, 4.0), Group::tasks(300.0, 4.0)],
                )
                .limited(0.5),
                Group::tasks(100.0, 8.0),
            ],
        );
        assert!(close(tree.demand(), 8.5));
        let s = allocate(4.0, &tree);
        assert!(close(s.cpus, 4.0));
        assert!(close(s.children[0].cpus, 0.5));
        assert!(close(s.children[0].children[0].cpus, 0.125));
        assert!(close(s.children[0].children[1].cpus, 0.375));
        assert!(close(s.children[1].cpus, 3.5));
    }

    #[test]
    fn an_idle_node_and_an_undersubscribed_one() {
        let idle = Group::children(1.0, vec![Group::tasks(100.0, 0.0)]);
        let s = allocate(2.0, &idle);
        assert_eq!(s.cpus, 0.0);
        assert_eq!(s.children[0].cpus, 0.0);
        // less demand than CPUs: each gets what it asks, weights do not matter
        let light = Group::children(1.0, vec![Group::tasks(1.0, 0.5), Group::tasks(1000.0, 1.0)]);
        let s = allocate(4.0, &light);
        assert!(close(s.cpus, 1.5));
        assert!(close(s.children[0].cpus, 0.5) && close(s.children[1].cpus, 1.0));
    }
}
