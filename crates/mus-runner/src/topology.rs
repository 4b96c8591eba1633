//! The machine's last-level caches, which the scheduler's queues follow: one
//! vtime queue per cache (see the BPF file's header). Read with
//! `scx_utils::Topology` and handed to BPF in `.rodata` before load.

use anyhow::{Result, bail};
use mus_bpf::intf;

const MAX_CPUS: usize = intf::mus_consts_MUS_MAX_CPUS as usize;
const MAX_LLCS: usize = intf::mus_consts_MUS_MAX_LLCS as usize;

/// Which CPUs share a last-level cache.
#[derive(Debug, PartialEq, Eq)]
pub struct Caches {
    /// Each cache's CPUs, ascending; caches ordered by their first CPU.
    llcs: Vec<Vec<u32>>,
    /// Cache index of every possible CPU (CPUs no cache lists count as cache 0).
    cpu_llc: Vec<u32>,
}

impl Caches {
    /// The caches of this machine. A topology that cannot be read (an unusual
    /// sysfs, a container) is not fatal: all CPUs then share one queue, as a
    /// machine with one cache does, and the caller says so.
    pub fn detect(nr_cpus: usize) -> Result<Caches> {
        let topo = scx_utils::Topology::new()
            .map_err(|e| anyhow::anyhow!("cannot read the CPU topology: {e:#}"))?;
        let llcs = topo
            .all_llcs
            .values()
            .map(|llc| llc.all_cpus.keys().copied().collect())
            .collect();
        Caches::new(nr_cpus, llcs)
    }

    /// One cache holding every CPU.
    pub fn single(nr_cpus: usize) -> Result<Caches> {
        Caches::new(nr_cpus, vec![(0..nr_cpus).collect()])
    }

    /// The caches `llcs` (CPU ids per cache) of a machine with `nr_cpus` possible
    /// CPUs. Refuses a machine larger than the BPF side's tables.
    pub fn new(nr_cpus: usize, llcs: Vec<Vec<usize>>) -> Result<Caches> {
        if nr_cpus > MAX_CPUS {
            bail!(
                "this machine has {nr_cpus} possible CPUs; mus supports at most {MAX_CPUS} \
                 (MUS_MAX_CPUS in crates/mus-bpf/src/bpf/intf.h)"
            );
        }
        let mut llcs: Vec<Vec<u32>> = llcs
            .into_iter()
            .map(|cpus| {
                let mut cpus: Vec<u32> = cpus
                    .into_iter()
                    .filter(|&c| c < nr_cpus)
                    .map(|c| c as u32)
                    .collect();
                cpus.sort_unstable();
                cpus.dedup();
                cpus
            })
            .filter(|cpus| !cpus.is_empty())
            .collect();
        if llcs.is_empty() {
            llcs.push((0..nr_cpus as u32).collect());
        }
        if llcs.len() > MAX_LLCS {
            bail!(
                "this machine has {} last-level caches; mus supports at most {MAX_LLCS} \
                 (MUS_MAX_LLCS in crates/mus-bpf/src/bpf/intf.h)",
                llcs.len()
            );
        }
        llcs.sort_by_key(|cpus| cpus[0]);
        let mut cpu_llc = vec![0u32; nr_cpus];
        for (llc, cpus) in llcs.iter().enumerate() {
            for &cpu in cpus {
                cpu_llc[cpu as usize] = llc as u32;
            }
        }
        Ok(Caches { llcs, cpu_llc })
    }

    pub fn len(&self) -> usize {
        self.llcs.len()
    }

    /// Every CPU grouped by cache, and where each cache's run starts: the
    /// scheduler's `llc_cpus` and `llc_first` (`llc_size` is each run's length).
    fn grouped(&self) -> (Vec<u32>, Vec<u32>) {
        let mut first = Vec::with_capacity(self.llcs.len());
        let mut all = Vec::with_capacity(self.cpu_llc.len());
        for cpus in &self.llcs {
            first.push(all.len() as u32);
            all.extend_from_slice(cpus);
        }
        (all, first)
    }

    /// Fills the scheduler's topology tables (`nr_llcs`, `cpu_llc`, `llc_cpus`,
    /// `llc_first`, `llc_size`); `new` checked that they fit.
    pub fn write(&self, rodata: &mut mus_bpf::skel::types::rodata) {
        let (all, first) = self.grouped();
        rodata.nr_llcs = self.llcs.len() as u32;
        rodata.cpu_llc[..self.cpu_llc.len()].copy_from_slice(&self.cpu_llc);
        rodata.llc_cpus[..all.len()].copy_from_slice(&all);
        rodata.llc_first[..first.len()].copy_from_slice(&first);
        for (llc, cpus) in self.llcs.iter().enumerate() {
            rodata.llc_size[llc] = cpus.len() as u32;
        }
    }

    /// The caches as CPU lists, e.g. `0-3 | 4-7`.
    pub fn describe(&self) -> String {
        self.llcs
            .iter()
            .map(|cpus| cpu_list(cpus))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// `cpus` (ascending) in the kernel's cpulist format: `0-3,6`.
fn cpu_list(cpus: &[u32]) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cpu => *end = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sockets_become_two_ordered_caches() {
        let caches = Caches::new(8, vec![vec![7, 5, 4, 6], vec![1, 0, 3, 2]]).unwrap();
        assert_eq!(caches.describe(), "0-3 | 4-7");
        assert_eq!(caches.cpu_llc, vec![0, 0, 0, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn cpus_beyond_the_possible_ones_are_dropped_and_unlisted_ones_join_cache_0() {
        let caches = Caches::new(4, vec![vec![2, 3, 9], vec![], vec![1]]).unwrap();
        assert_eq!(caches.describe(), "1 | 2-3");
        // CPU 0 is in no cache the topology listed: it queues with cache 0.
        assert_eq!(caches.cpu_llc, vec![0, 0, 1, 1]);
    }

    #[test]
    fn no_cache_at_all_is_one_cache_of_every_cpu() {
        let caches = Caches::new(3, vec![]).unwrap();
        assert_eq!(caches.describe(), "0-2");
        assert_eq!(caches.len(), 1);
    }

    #[test]
    fn a_machine_larger_than_the_tables_is_refused_with_the_limit_named() {
        let err = Caches::single(MAX_CPUS + 1).unwrap_err().to_string();
        assert!(err.contains("MUS_MAX_CPUS"), "{err}");
        let many: Vec<Vec<usize>> = (0..MAX_LLCS + 1).map(|c| vec![c]).collect();
        let err = Caches::new(MAX_LLCS + 1, many).unwrap_err().to_string();
        assert!(err.contains("MUS_MAX_LLCS"), "{err}");
    }

    #[test]
    fn the_tables_list_each_cache_s_cpus_contiguously() {
        let caches = Caches::new(6, vec![vec![0, 2, 4], vec![1, 3, 5]]).unwrap();
        assert_eq!(caches.cpu_llc, vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(caches.grouped(), (vec![0, 2, 4, 1, 3, 5], vec![0, 3]));
    }
}
