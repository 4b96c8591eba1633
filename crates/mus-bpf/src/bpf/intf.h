/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The contract between the mus BPF scheduler and user space.
 *
 * mus-runner pins the map `high_prio_cgroups`; mus-agent (through mus-common),
 * bpftool or anything else with root writes entries into it. bindgen turns this
 * header into the Rust module `mus_bpf::intf`, so the two sides share one
 * definition of every type and constant here and cannot drift.
 */
#ifndef __MUS_INTF_H
#define __MUS_INTF_H

#ifndef __VMLINUX_H__
typedef unsigned int u32;
typedef unsigned long long u64;
#endif

enum mus_consts {
	/*
	 * The weight of a map entry that changes nothing: an entry of weight W
	 * multiplies its cgroup's cpu.weight by W / MUS_WEIGHT_NORMAL.
	 */
	MUS_WEIGHT_NORMAL	= 1024,
	/* Weight the tools write when the operator names none: 4x a normal cgroup. */
	MUS_WEIGHT_HIGH_DEFAULT	= 4096,
	/*
	 * Largest weight the scheduler honours: 64x normal. A boosted cgroup can
	 * then still leave its neighbours 1/65 of a contended CPU, which keeps the
	 * no-starvation promise meaningful (and the vtime arithmetic far from
	 * overflow). Writers reject more; the scheduler clamps anything larger.
	 */
	MUS_WEIGHT_MAX		= 65536,
	/* Capacity of high_prio_cgroups: a node's pods and containers, with room. */
	MUS_MAP_MAX_ENTRIES	= 4096,
	/*
	 * Deepest cgroup nesting the ancestor walk looks at, counted from the
	 * task's own cgroup upwards. Kubernetes pods sit at depth 4-6.
	 */
	MUS_MAX_CGROUP_DEPTH	= 32,
	/*
	 * Largest CPU count and number of last-level caches the topology tables
	 * (filled by mus-runner from scx_utils::Topology) hold; the runner refuses
	 * a machine with more, naming these limits.
	 */
	MUS_MAX_CPUS		= 1024,
	MUS_MAX_LLCS		= 256,
	/*
	 * Buckets of a run-queue wait histogram (struct mus_cgroup_waits):
	 * bucket 0 holds waits under 1 us, bucket b (1..20) waits of 2^(b-1) us
	 * up to 2^b us, the last one (21) waits of 2^20 us (1.05 s) and more.
	 */
	MUS_WAIT_BUCKETS	= 22,
	/* Cgroups the wait histograms (cgroup_waits) hold at once. */
	MUS_WAIT_MAX_CGROUPS	= 8192,
};

/* Value of high_prio_cgroups; the key is the u64 cgroup ID (the cgroup v2
 * directory's inode number). */
struct mus_cgroup_prio {
	/*
	 * Boost of the cgroup, for its whole subtree: its cpu.weight among its
	 * siblings is multiplied by weight / MUS_WEIGHT_NORMAL (4096: four
	 * times). 0 is taken to mean the runner's --high-weight (handy with
	 * bpftool); values above MUS_WEIGHT_MAX are clamped to it.
	 */
	u32 weight;
	/* Bits of enum mus_prio_flags; the scheduler ignores them. */
	u32 flags;
};

/*
 * Bits of mus_cgroup_prio.flags: who wrote an entry, so that the tools never
 * remove or rewrite each other's entries. The scheduler ignores them.
 */
enum mus_prio_flags {
	/* Written by `mus-agent watch`, which may remove it again. */
	MUS_PRIO_F_WATCH	= 1u << 0,
	/* Written by `mus-agent boost`: the daemon leaves it alone. */
	MUS_PRIO_F_CLI		= 1u << 1,
	/*
	 * Bits 16-31 of an entry with MUS_PRIO_F_WATCH: the writing daemon's owner
	 * id (a hash of its node name), so that a second daemon started with the
	 * wrong node name leaves the first one's entries alone. 0 is an entry of an
	 * agent that predates owner ids.
	 */
	MUS_PRIO_OWNER_SHIFT	= 16,
	MUS_PRIO_OWNER_MASK	= 0xffff0000u,
};

/*
 * Whose doing a run-queue wait is (waits.bpf.c has the rule and what it
 * cannot tell apart): a histogram of each, per cgroup.
 */
enum mus_wait_class {
	/* Behind other cgroups' tasks (or other scheduling classes). */
	MUS_WAIT_OTHERS,
	/*
	 * The cgroup's own: it had more runnable threads than the CPUs it may
	 * use (its tasks' allowed CPUs, its cpu.max quota / period rounded up)
	 * when the wait began, so it would wait with no neighbour.
	 */
	MUS_WAIT_OWN,
	MUS_WAIT_CLASSES,
};

/*
 * Value of the per-CPU hash cgroup_waits, which mus-runner pins as
 * `mus_cgroup_waits` next to the map; the key is the u64 cgroup ID of the
 * tasks' cgroup of the cpu controller. User space sums the CPUs' values; an
 * interval's waits are the difference of two readings.
 */
struct mus_cgroup_waits {
	/* waits from runnable to running, by class and log2 bucket of us */
	u64 hist[MUS_WAIT_CLASSES][MUS_WAIT_BUCKETS];
	/* their total time, ns, by class (the time throttled left out) */
	u64 wait_ns[MUS_WAIT_CLASSES];
	/* time tasks spent held back by the cgroup's cpu.max (or an ancestor's), ns */
	u64 throttled_ns;
	/* waits that were held back so at least once */
	u64 throttled_waits;
};

/*
 * Indices of the per-CPU `stats` array, which mus-runner pins as `mus_stats` next
 * to the map; mus-runner prints their sums, mus-agent exports them as metrics.
 * New counters go at the end: readers of an older build read what they know.
 */
enum mus_stat_idx {
	MUS_STAT_RUN_BOOSTED,		/* times a task of a boosted cgroup got a CPU */
	MUS_STAT_RUN_NORMAL,		/* times any other task got a CPU */
	MUS_STAT_DISPATCH_IDLE,		/* wake-ups placed directly on an idle CPU */
	MUS_STAT_DISPATCH_SHARED,	/* tasks a CPU pulled from its cache's or its own queue */
	MUS_STAT_RUNTIME_BOOSTED_NS,	/* CPU time given to boosted cgroups */
	MUS_STAT_RUNTIME_NORMAL_NS,	/* CPU time given to everything else */
	MUS_STAT_WEIGHT_REFRESH,	/* hierarchical share recomputations (cache misses) */
	MUS_STAT_MAP_CHANGES,		/* map changes seen by the map scan */
	MUS_STAT_STARVATION_RESCUES,	/* tasks run out of vtime order after waiting too long */
	MUS_STAT_PREEMPTIONS,		/* waking tasks that preempted a running one */
	MUS_STAT_SHORT_SLICES,		/* slices shortened because tasks were waiting */
	MUS_STAT_THROTTLED,		/* tasks held back because their cgroup used its cpu.max */
	MUS_STAT_CGROUP_ACTIVATIONS,	/* cgroups that became runnable (tree updates) */
	MUS_STAT_STEALS,		/* tasks a busy CPU took from another cache's queue, being owed */
	MUS_STAT_LLC_MIGRATIONS,	/* tasks that started running in another cache than before */
	MUS_STAT_IDLE_STEALS,		/* tasks a CPU with nothing else to run took from another cache */
	MUS_STAT_QUEUE_JUMPS,		/* boosted wake-ups queued ahead of a head boosted less */
	MUS_STAT_WAITS_LOST,		/* waits not recorded: cgroup_waits was full */
	MUS_STAT_KICKS_REFUSED,		/* preempting kicks whose victim kept its CPU */
	MUS_STAT_LOCAL_WAKEUPS,		/* confined wake-ups queued to run next on their busy CPU */
	MUS_STAT_LATE_RESCUES,		/* rescues by the hard bound (RESCUE_ALWAYS_NS), not the budgeted pass */
	MUS_NR_STATS,
};

#endif /* __MUS_INTF_H */
