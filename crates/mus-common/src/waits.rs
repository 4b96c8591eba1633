//! Run-queue waits per cgroup: the scheduler's per-CPU hash `cgroup_waits` (value
//! `struct mus_cgroup_waits` of `intf.h`, key the cgroup ID), which mus-runner pins at
//! [`crate::waits_pin_path`]. For each cgroup, a log2 histogram of the waits from
//! runnable to running spent behind other cgroups' tasks ([`WaitClass::Others`]) and
//! of those that were its own doing ([`WaitClass::Own`]: more runnable threads than
//! the CPUs it may use), and the time its cpu.max held its tasks back. Read here:
//! summed over CPUs, an interval as the difference of two readings, percentiles per
//! class. (`crates/mus-bpf/src/bpf/waits.bpf.c` has the rule and its limits.)

use std::collections::BTreeMap;
use std::fmt;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};
use mus_bpf::intf::{self, mus_cgroup_waits};

use crate::CgroupId;
use crate::pinned::{self, Expected, PinnedMapError};

/// Buckets of a histogram: bucket 0 holds waits under 1 µs, bucket b (1..) waits from
/// 2^(b-1) µs up to 2^b µs, the last one every wait from its lower edge on.
pub const BUCKETS: usize = intf::mus_consts_MUS_WAIT_BUCKETS as usize;

const KEY_SIZE: u32 = size_of::<u64>() as u32;
const VALUE_SIZE: u32 = size_of::<mus_cgroup_waits>() as u32;

const EXPECTED: Expected = Expected {
    what: "wait histograms",
    map_type: MapType::PercpuHash,
    key_size: KEY_SIZE,
    value_size: VALUE_SIZE,
};

/// Why the pinned histograms could not be opened or read.
pub type WaitsError = PinnedMapError;

/// Whose doing a wait was (`enum mus_wait_class`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitClass {
    /// Behind other cgroups' tasks (or other scheduling classes'): what a boost helps.
    Others,
    /// The cgroup's own: it had more runnable threads than the CPUs it may use (it
    /// would wait with no neighbour); a boost takes from the neighbours without
    /// helping it, unless they also keep it below those CPUs (which this cannot see).
    Own,
}

impl WaitClass {
    fn index(self) -> usize {
        match self {
            WaitClass::Others => intf::mus_wait_class_MUS_WAIT_OTHERS as usize,
            WaitClass::Own => intf::mus_wait_class_MUS_WAIT_OWN as usize,
        }
    }
}

/// Where a percentile falls: below a bucket's upper edge, or in the last bucket,
/// which has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WaitBound {
    Below(Duration),
    AtLeast(Duration),
}

impl WaitBound {
    /// The bound as a time: the upper edge, or the last bucket's lower edge.
    pub fn duration(self) -> Duration {
        match self {
            WaitBound::Below(d) | WaitBound::AtLeast(d) => d,
        }
    }
}

impl fmt::Display for WaitBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sign, d) = match self {
            WaitBound::Below(d) => ("<", d),
            WaitBound::AtLeast(d) => (">=", d),
        };
        let us = d.as_micros();
        if us < 1000 {
            write!(f, "{sign}{us}us")
        } else if us < 1_000_000 {
            write!(f, "{sign}{:.1}ms", us as f64 / 1e3)
        } else {
            write!(f, "{sign}{:.2}s", us as f64 / 1e6)
        }
    }
}

/// The edges of bucket `b`: its lower edge and its upper one (`None` for the last).
pub fn bucket_edges(b: usize) -> (Duration, Option<Duration>) {
    let edge = |b: usize| match b {
        0 => Duration::ZERO,
        b => Duration::from_micros(1 << (b - 1)),
    };
    (edge(b), (b + 1 < BUCKETS).then(|| edge(b + 1)))
}

/// One class's waits: how many fell in each bucket, and their total time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: [u64; BUCKETS],
    pub total_ns: u64,
}

impl Histogram {
    /// How many waits.
    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0, |a, &n| a.wrapping_add(n))
    }

    /// Where the `q`-quantile (0.5: the median, 0.99: p99) of the waits falls: the
    /// upper edge of the bucket holding it, so "p99 < 2 ms" means at least 99 % of the
    /// waits were shorter than 2 ms. `None` without waits.
    pub fn percentile(&self, q: f64) -> Option<WaitBound> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        let b = self
            .buckets
            .iter()
            .position(|&n| {
                seen += n;
                seen >= rank
            })
            .unwrap_or(BUCKETS - 1);
        Some(match bucket_edges(b) {
            (_, Some(upper)) => WaitBound::Below(upper),
            (lower, None) => WaitBound::AtLeast(lower),
        })
    }

    /// The mean wait, `None` without waits.
    pub fn mean(&self) -> Option<Duration> {
        let count = self.count();
        (count > 0).then(|| Duration::from_nanos(self.total_ns / count))
    }

    fn add(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.wrapping_add(*b);
        }
        self.total_ns = self.total_ns.wrapping_add(other.total_ns);
    }

    fn since(&self, earlier: &Histogram) -> Histogram {
        let mut d = *self;
        for (a, b) in d.buckets.iter_mut().zip(&earlier.buckets) {
            *a = a.wrapping_sub(*b);
        }
        d.total_ns = d.total_ns.wrapping_sub(earlier.total_ns);
        d
    }
}

/// One cgroup's waits (summed over CPUs, or over a pod's containers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupWaits {
    pub others: Histogram,
    pub own: Histogram,
    /// Time its tasks were held back by cpu.max (its own or an ancestor's).
    pub throttled_ns: u64,
    /// Waits that were held back so at least once.
    pub throttled_waits: u64,
}

impl CgroupWaits {
    /// The histogram of `class`.
    pub fn class(&self, class: WaitClass) -> &Histogram {
        match class {
            WaitClass::Others => &self.others,
            WaitClass::Own => &self.own,
        }
    }

    /// One CPU's value as the scheduler stores it; `None` if `bytes` is too short.
    pub fn decode(bytes: &[u8]) -> Option<CgroupWaits> {
        let word = |at: usize| -> Option<u64> {
            Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let hist = offset_of!(mus_cgroup_waits, hist);
        let wait_ns = offset_of!(mus_cgroup_waits, wait_ns);
        let class = |c: WaitClass| -> Option<Histogram> {
            let mut h = Histogram::default();
            for (b, n) in h.buckets.iter_mut().enumerate() {
                *n = word(hist + 8 * (c.index() * BUCKETS + b))?;
            }
            h.total_ns = word(wait_ns + 8 * c.index())?;
            Some(h)
        };
        Some(CgroupWaits {
            others: class(WaitClass::Others)?,
            own: class(WaitClass::Own)?,
            throttled_ns: word(offset_of!(mus_cgroup_waits, throttled_ns))?,
            throttled_waits: word(offset_of!(mus_cgroup_waits, throttled_waits))?,
        })
    }

    /// Adds `other`'s waits to these.
    pub fn add(&mut self, other: &CgroupWaits) {
        self.others.add(&other.others);
        self.own.add(&other.own);
        self.throttled_ns = self.throttled_ns.wrapping_add(other.throttled_ns);
        self.throttled_waits = self.throttled_waits.wrapping_add(other.throttled_waits);
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &CgroupWaits) -> CgroupWaits {
        CgroupWaits {
            others: self.others.since(&earlier.others),
            own: self.own.since(&earlier.own),
            throttled_ns: self.throttled_ns.wrapping_sub(earlier.throttled_ns),
            throttled_waits: self.throttled_waits.wrapping_sub(earlier.throttled_waits),
        }
    }

    /// Whether nothing waited.
    pub fn is_empty(&self) -> bool {
        self.others.count() == 0 && self.own.count() == 0 && self.throttled_waits == 0
    }
}

/// One reading of every cgroup's waits, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Waits(pub BTreeMap<CgroupId, CgroupWaits>);

impl Waits {
    /// Reads every cgroup's waits from the scheduler's map, summed over the CPUs. A
    /// cgroup that goes while this reads is left out.
    pub fn read(map: &impl MapCore) -> Result<Waits, libbpf_rs::Error> {
        let mut waits = BTreeMap::new();
        for key in map.keys() {
            let Some(id) = key.get(..8).and_then(|k| k.try_into().ok()) else {
                continue;
            };
            let Some(per_cpu) = map.lookup_percpu(&key, MapFlags::ANY)? else {
                continue;
            };
            let sum = per_cpu.iter().filter_map(|v| CgroupWaits::decode(v)).fold(
                CgroupWaits::default(),
                |mut sum, cpu| {
                    sum.add(&cpu);
                    sum
                },
            );
            waits.insert(CgroupId(u64::from_ne_bytes(id)), sum);
        }
        Ok(Waits(waits))
    }

    /// Opens the histograms pinned at `path`, checking that they look like ours.
    /// `Ok(None)`: nothing is pinned there (no runner running).
    pub fn open_pinned(path: &Path) -> Result<Option<PinnedWaits>, WaitsError> {
        Ok(pinned::open(path, EXPECTED)?.map(|map| PinnedWaits {
            map,
            path: path.into(),
        }))
    }

    /// [`Waits::open_pinned`], then [`PinnedWaits::read`].
    pub fn read_pinned(path: &Path) -> Result<Option<Waits>, WaitsError> {
        Waits::open_pinned(path)?.map(|w| w.read()).transpose()
    }

    /// What happened between `earlier` and `self`: a cgroup in both, the difference; a
    /// cgroup new since, all of its waits; a cgroup gone since, nothing.
    pub fn since(&self, earlier: &Waits) -> Waits {
        Waits(
            self.0
                .iter()
                .map(|(id, now)| {
                    let delta = earlier.0.get(id).map_or(*now, |before| now.since(before));
                    (*id, delta)
                })
                .collect(),
        )
    }

    /// `id`'s waits, if it has any entry.
    pub fn get(&self, id: CgroupId) -> Option<&CgroupWaits> {
        self.0.get(&id)
    }

    /// The waits of `ids` added up: a pod's, from its own cgroup's and its containers'.
    pub fn sum_of(&self, ids: impl IntoIterator<Item = CgroupId>) -> CgroupWaits {
        ids.into_iter()
            .filter_map(|id| self.get(id))
            .fold(CgroupWaits::default(), |mut sum, w| {
                sum.add(w);
                sum
            })
    }
}

/// The histograms pinned by a runner, opened once to be read again and again.
#[derive(Debug)]
pub struct PinnedWaits {
    map: MapHandle,
    path: PathBuf,
}

impl PinnedWaits {
    /// Every cgroup's waits now ([`Waits::read`]).
    pub fn read(&self) -> Result<Waits, WaitsError> {
        Waits::read(&self.map).map_err(pinned::read_error(&self.path))
    }

    /// Where they are pinned.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram with `n` waits in each `(bucket, n)`.
    fn hist(counts: &[(usize, u64)]) -> Histogram {
        let mut h = Histogram::default();
        for &(b, n) in counts {
            h.buckets[b] += n;
        }
        h
    }

    /// One CPU's value as the scheduler lays it out (`intf.h`'s struct, whose fields
    /// are all u64: its size is the sum of theirs, so there is no padding to skip).
    fn encode(w: &CgroupWaits) -> Vec<u8> {
        assert_eq!(VALUE_SIZE as usize, 8 * (2 * BUCKETS + 2 + 2));
        let mut bytes = vec![0u8; VALUE_SIZE as usize];
        let mut put = |at: usize, v: u64| bytes[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        for (c, h) in [(WaitClass::Others, &w.others), (WaitClass::Own, &w.own)] {
            for (b, &n) in h.buckets.iter().enumerate() {
                put(
                    offset_of!(mus_cgroup_waits, hist) + 8 * (c.index() * BUCKETS + b),
                    n,
                );
            }
            put(
                offset_of!(mus_cgroup_waits, wait_ns) + 8 * c.index(),
                h.total_ns,
            );
        }
        put(offset_of!(mus_cgroup_waits, throttled_ns), w.throttled_ns);
        put(
            offset_of!(mus_cgroup_waits, throttled_waits),
            w.throttled_waits,
        );
        bytes
    }

    #[test]
    fn a_value_decodes_field_by_field_and_a_short_one_not_at_all() {
        let w = CgroupWaits {
            others: Histogram {
                total_ns: 7,
                ..hist(&[(3, 2), (BUCKETS - 1, 1)])
            },
            own: Histogram {
                total_ns: 9,
                ..hist(&[(0, 5)])
            },
            throttled_ns: 11,
            throttled_waits: 1,
        };
        let bytes = encode(&w);
        assert_eq!(CgroupWaits::decode(&bytes), Some(w));
        assert_eq!(CgroupWaits::decode(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn percentiles_are_the_upper_edge_of_the_bucket_that_holds_them() {
        // 98 waits of 2-4 us, one of 512 us-1 ms, one of 1.05 s or more
        let h = hist(&[(2, 98), (10, 1), (BUCKETS - 1, 1)]);
        assert_eq!(
            h.percentile(0.5),
            Some(WaitBound::Below(Duration::from_micros(4)))
        );
        assert_eq!(
            h.percentile(0.99),
            Some(WaitBound::Below(Duration::from_micros(1024)))
        );
        assert_eq!(
            h.percentile(1.0),
            Some(WaitBound::AtLeast(Duration::from_micros(1 << 20)))
        );
        assert_eq!(h.percentile(0.99).unwrap().to_string(), "<1.0ms");
        assert_eq!(h.percentile(1.0).unwrap().to_string(), ">=1.05s");
        assert_eq!(Histogram::default().percentile(0.99), None);
        // waits under a microsecond
        assert_eq!(
            hist(&[(0, 3)]).percentile(0.99),
            Some(WaitBound::Below(Duration::from_micros(1)))
        );
    }

    #[test]
    fn bucket_edges_double_from_one_microsecond() {
        assert_eq!(
            bucket_edges(0),
            (Duration::ZERO, Some(Duration::from_micros(1)))
        );
        assert_eq!(
            bucket_edges(1),
            (Duration::from_micros(1), Some(Duration::from_micros(2)))
        );
        assert_eq!(
            bucket_edges(11),
            (
                Duration::from_micros(1024),
                Some(Duration::from_micros(2048))
            )
        );
        assert_eq!(bucket_edges(BUCKETS - 1).1, None);
    }

    #[test]
    fn an_interval_is_the_difference_of_two_readings_per_cgroup() {
        let (a, b, c) = (CgroupId(10), CgroupId(11), CgroupId(12));
        let w = |others: u64, own: u64, throttled_ns: u64| CgroupWaits {
            others: hist(&[(4, others)]),
            own: hist(&[(8, own)]),
            throttled_ns,
            throttled_waits: 0,
        };
        let before = Waits([(a, w(10, 1, 100)), (c, w(1, 1, 0))].into());
        let after = Waits([(a, w(15, 1, 250)), (b, w(3, 0, 0))].into());
        let delta = after.since(&before);
        assert_eq!(delta.get(a), Some(&w(5, 0, 150)));
        assert_eq!(delta.get(b), Some(&w(3, 0, 0)), "new: all of it");
        assert_eq!(delta.get(c), None, "gone: nothing");
        assert_eq!(delta.sum_of([a, b, c]).others.count(), 8);
        assert!(delta.get(a).unwrap().own.count() == 0);
    }

    #[test]
    fn a_reading_sums_each_cgroups_values_over_the_cpus_of_a_kernel_map() {
        let opts = libbpf_rs::libbpf_sys::bpf_map_create_opts {
            sz: size_of::<libbpf_rs::libbpf_sys::bpf_map_create_opts>() as _,
            ..Default::default()
        };
        let map = MapHandle::create(
            MapType::PercpuHash,
            Some("cgroup_waits"),
            KEY_SIZE,
            VALUE_SIZE,
            4,
            &opts,
        )
        .expect("create a per-CPU hash (this test needs root and a kernel with BPF)");
        let cpus = libbpf_rs::num_possible_cpus().expect("possible CPUs");
        let per_cpu = |cpu: usize| CgroupWaits {
            others: Histogram {
                total_ns: 1000,
                ..hist(&[(5, cpu as u64 + 1)])
            },
            own: hist(&[(9, 2)]),
            throttled_ns: 10,
            throttled_waits: 1,
        };
        let values: Vec<Vec<u8>> = (0..cpus).map(|cpu| encode(&per_cpu(cpu))).collect();
        map.update_percpu(&7u64.to_ne_bytes(), &values, MapFlags::ANY)
            .expect("update");
        let waits = Waits::read(&map).expect("read");
        let w = waits.get(CgroupId(7)).expect("cgroup 7 read");
        let n = cpus as u64;
        assert_eq!(w.others.buckets[5], n * (n + 1) / 2);
        assert_eq!(w.others.total_ns, 1000 * n);
        assert_eq!(w.own.count(), 2 * n);
        assert_eq!((w.throttled_ns, w.throttled_waits), (10 * n, n));
        assert_eq!(waits.0.len(), 1);
    }
}
