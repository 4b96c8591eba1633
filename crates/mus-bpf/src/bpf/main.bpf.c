/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mus: the Mostly Unfair Scheduler.
 *
 * What it promises
 * ----------------
 * 1. The node's cgroup contract holds. A cgroup's share of contended CPUs
 *    follows cpu.weight at every level of the cgroup v2 tree, whatever the
 *    number of threads inside, as the kernel's fair class does; cpu.max is
 *    enforced where the kernel hands it over (7.x: ops.cgroup_set_bandwidth);
 *    cpu.idle makes a cgroup yield to its siblings (from 6.19, when the kernel
 *    tells us: ops.cgroup_set_idle); nice weighs a task inside its cgroup.
 * 2. A boost is a factor. A cgroup listed in the pinned map high_prio_cgroups
 *    with weight W competes with its siblings as if its cpu.weight were
 *    cpu.weight x W / 1024 (the default 4096: four times the share it had),
 *    for its whole subtree. Siblings' and ancestors' weights are untouched,
 *    so a boosted pod takes from the pods next to it inside kubepods.slice,
 *    never from system.slice.
 * 3. Every task wakes up promptly. A task that slept comes back with bounded
 *    credit and preempts a running task whose deadline (as in EEVDF: the
 *    vtime at which its slice ends) is beyond the waking task's vtime (at
 *    once, unless the wake-up is message passing: then the running task keeps
 *    sync_grace_ns first). A boosted task's credit is multiplied by its
 *    boost, and it preempts a task boosted less even when up to that credit
 *    ahead of it, so it wins wake-up races against ordinary tasks. The same
 *    rule orders it against tasks boosted less where it waits: a boosted
 *    waker that found no CPU to preempt is queued ahead of such a head up to
 *    its credit, and at a slice's end a CPU gives way to it likewise; while
 *    it serves a burst (up to slice_ns after it woke) it keeps its CPU at a
 *    slice's end against a task boosted less. It is charged from its own
 *    vtime throughout, so shares hold to within that credit.
 *    Slices shrink as waiters grow.
 *    A task that stays runnable is owed at most MAX_LAG_SLICES of its
 *    slices, so nothing banks CPU it could not use and a share that drops (a
 *    boost taken back, a sibling started) takes effect at once.
 * 4. Nothing is starved and the watchdog never fires: a task queued for
 *    STARVATION_NS runs next, out of vtime order, for a short slice.
 *
 * How: the hierarchy flattened into one share per cgroup
 * ------------------------------------------------------
 * Tasks are scheduled by vtime (per-task vtime, like scx_simple; queues per
 * cache, below) but each task is charged for its CPU time by the inverse of its
 * *flattened hierarchical share* of the machine, learnt from scx_flatcg:
 *
 *   share(cgroup) = product over its ancestors a (below the root, itself
 *                   included) of contribution(a) / (sum of the active
 *                   contributions of a and its siblings, + 100 when their
 *                   parent has runnable tasks of its own)
 *   contribution  = cpu.weight x boost / 1024 (1 under cpu.idle)
 *   share(task)   = share(its cgroup) x nice weight / (runnable nice weights
 *                   in the cgroup)
 *
 * A cgroup's runnable tasks split its share by nice weight. Tasks sitting
 * next to child cgroups (only the root has them: cgroup v2 keeps processes
 * out of inner cgroups) compete with those children together, as one child
 * of the default weight, so that kthreads coming and going in the root do
 * not change every cgroup's share on each wake-up. Every task's vtime then
 * advances at the same rate when it gets its share, so ordering by vtime
 * gives each cgroup its share of the contended CPUs, split among its threads.
 *
 * The tree is kept current by counting runnable tasks per cgroup
 * (ops.runnable / ops.quiescent: two atomics on the task's cgroup). Only
 * when a cgroup goes from idle to runnable or back does its contribution
 * propagate upwards (one short critical section per level, under one global
 * spin lock, stopping at the first ancestor whose activity did not change),
 * and hweight_gen is bumped so that cached shares are recomputed. A cgroup
 * caches its share with the generation it was computed at; recomputing walks
 * from the root down (one kfunc and one storage lookup per level: 4-5 levels
 * under kubelet).
 *
 * Why not scx_flatcg's two-level design (a queue per cgroup, an rbtree of
 * cgroups): it needs a second vtime domain, per-cgroup queues to scan and an
 * rbtree under a lock on every dispatch; charging tasks by their flattened
 * share keeps plain task queues, keeps wake-up preemption a comparison of two
 * task vtimes, and costs an ancestor walk only when the tree's activity
 * changed.
 *
 * Queues per last-level cache
 * ---------------------------
 * Each last-level cache (from scx_utils::Topology, handed over by mus-runner
 * in .rodata) has a vtime-ordered queue its CPUs share, and each CPU one for
 * the tasks that may run nowhere else. A task is queued where it last ran
 * (or where ops.select_cpu placed it: the kernel's idle search prefers the
 * previous CPU's cache), so a CPU serves its own cache first and no lock or
 * queue cache line is shared between caches on an ordinary dispatch. vtime
 * is one currency across queues, which is what keeps the guarantees above
 * node-wide: a CPU also peeks at other caches' heads (every other cache up to
 * three caches, else two at random) and takes one that is owed the CPU by
 * more than STEAL_SLICES of that task's slices compared with its own choice.
 * An idle CPU takes from any cache a task that is not cache-hot (ran in the
 * last MIGRATION_COST_NS). A wake-up that finds an idle CPU of its cache is
 * queued and that CPU kicked to take it (straight into the local queue when
 * it is the task's own CPU, or in another cache: inserting into another CPU's local queue would move the
 * task between run queues on the waker's CPU); a preemption victim is
 * sought among the CPUs of the waking task's cache, which serve its queue,
 * and kicked likewise.
 *
 * Which guarantees hold where. Per queue, exactly as before: vtime order,
 * slices shrinking with that cache's waiters, wake-up preemption. Node-wide:
 * shares (one hweight per cgroup, of the whole machine; a cache whose tasks
 * fall behind by STEAL_SLICES is stolen from, so no cgroup's tasks lag those
 * of another cache by more than that: a few slices' error in seconds of
 * contention), cpu.max (quotas are per cgroup, charged from every CPU), the
 * starvation rescue (one FIFO queue every CPU serves first) and the node's
 * progress vtime_now. Two tasks in different caches are not compared on
 * every decision, only through their queues' heads; that is the price of not
 * bouncing one lock across sockets, and scx_bpfland and scx_lavd pay it too.
 *
 * The map
 * -------
 * Nothing tells BPF when user space writes the map, so a BPF timer
 * fingerprints it periodically and bumps map_gen on change; a cgroup resolves
 * its own entry again when it sees a newer map_gen (one hash lookup), and
 * each task resolves the nearest entry over its cgroup v2 ancestry (for
 * statistics and its wake-up credit) when its cgroup or map_gen changed.
 *
 * Kernel interfaces used, and from which kernel
 * ---------------------------------------------
 * 6.12: cgroup_init/exit (weight in the init args), cgroup_set_weight,
 * runnable/quiescent, set_weight, scx_bpf_task_cgroup, DSQ iterators.
 * 6.17: cgroup_set_bandwidth and bw_* init args (cpu.max; without them the
 * runner logs that limits are not enforced). 6.19: cgroup_set_idle and the
 * sched_idle init arg (without them cpu.idle is not seen). scx_bpf_dsq_peek
 * (7.1 for a reliable one; scx's compat helper falls back to an iterator).
 * 6.15: scx_bpf_cpu_node (each queue allocated on its CPUs' NUMA node;
 * before, on any node).
 * libbpf drops the callbacks a kernel lacks (scx_utils' load-time fix-ups).
 *
 * Cost of the hot callbacks (D = cgroup depth, 4-5 under kubelet; L = number
 * of last-level caches; nothing is O(CPUs))
 * ----------------------------------------------------------------
 * select_cpu: the kernel's idle-CPU search (topology-aware), one task storage
 *   lookup; a placement, O(1).
 * enqueue: O(1): an idle-CPU pick in the cache's mask then anywhere, else a
 *   victim check of at most three CPUs of the cache (the task's, alone when
 *   the wake-up is handled on it and its task is ahead; else also two random
 *   ones), an insert into the cache's queue (a boosted waker's also peeks at
 *   the queue's head and looks up its storage; into the local queue when
 *   the idle CPU or the victim is the task's own) and a kick; O(D) when
 *   cpu.max limits exist.
 * runnable/quiescent: one task-cgroup kfunc, one storage lookup, two atomics;
 *   O(D) lock sections only when a cgroup's activity changes.
 * running: O(1). stopping: O(1) with a cached share, O(D) after the tree
 *   changed. tick: nothing without cpu.max; O(D) with it.
 * dispatch: O(1) on a busy CPU (peeks at its two queues and at most three
 *   other caches' heads, then one move; one more task storage lookup, the
 *   head's, when a slice ends behind it); O(L) peeks on a CPU that would
 *   otherwise go idle; O(throttled) only when a cpu.max period ends; the
 *   starvation scan, ten times a second on one CPU, is O(L + CPUs + queued).
 */
#include <scx/common.bpf.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

UEI_DEFINE(uei);

/*
 * The queues. Each last-level cache has one, ordered by vtime, that its CPUs
 * share; each CPU has one for the tasks that may run on that CPU alone
 * (per-CPU kthreads, pinned tasks), so that they never sit in a shared queue
 * the other CPUs have to skip over.
 */
#define LLC_DSQ(llc)		((u64)(llc))
#define CPU_DSQ(cpu)		((u64)MUS_MAX_LLCS + (cpu))
/* Tasks whose cgroup used up its cpu.max quota, released at the period end. */
#define THROTTLED_DSQ		((u64)MUS_MAX_LLCS + MUS_MAX_CPUS)
/*
 * Tasks that waited STARVATION_NS, served before every other queue, in FIFO
 * order: the kernel's global queue, which every CPU consumes before it calls
 * ops.dispatch (taking only tasks it may run), so serving it costs the
 * dispatch path nothing. mus inserts nothing else there.
 */
#define RESCUE_DSQ		SCX_DSQ_GLOBAL

#define NSEC_PER_USEC		1000ULL
#define NSEC_PER_MSEC		1000000ULL

/*
 * A task that stays runnable this long without getting a CPU makes the kernel
 * eject the scheduler. The default; mus-runner --watchdog-timeout-ms sets it.
 */
#define WATCHDOG_TIMEOUT_MS	5000

/*
 * Weighted fairness alone does not bound how long a task waits: a task of a
 * tiny share (one of many threads in a cpu.idle or BestEffort cgroup next to
 * busy ones) is charged so much for one slice that its next turn can be
 * seconds away. Every STARVATION_SCAN_NS one CPU moves every task queued
 * longer than STARVATION_NS to RESCUE_DSQ, which CPUs serve first with short
 * slices: waits stay near STARVATION_NS, far below the watchdog, and the
 * shares of everyone else are not bent by a floor.
 */
#define STARVATION_NS		(2000 * NSEC_PER_MSEC)
#define STARVATION_SCAN_NS	(100 * NSEC_PER_MSEC)

/*
 * A CPU takes the head of another cache's queue only when that task is owed
 * the CPU by more than STEAL_SLICES of its own slices' charge compared with
 * what the CPU would run otherwise: two queues' heads drift apart by about a
 * slice's charge in ordinary ebb and flow, and a task should not change
 * caches (and lose its warm cache) for that. The price is that shares across
 * caches hold to within this many slices per task, not exactly.
 */
#define STEAL_SLICES		4

/*
 * The most CPU time a task that stays runnable may be owed, in its own slices.
 * A task can be owed more than it can use: the one thread of a cgroup whose
 * share is more than a CPU, or a task whose CPU another class or the host
 * keeps busy. Unbounded, that debt is banked while nobody can pay it and spent
 * when the task's share drops (a boost taken back, a sibling thread started):
 * the task then holds a CPU for seconds beyond its new share. EEVDF bounds lag
 * the same way (two slices); twice STEAL_SLICES here, so that a lagging
 * cache's head is stolen before it is clamped.
 */
#define MAX_LAG_SLICES		(2 * STEAL_SLICES)

/*
 * A task that ran this recently is cache-hot: its data is in its cache, and
 * moving it to an idle CPU of another cache costs more than waiting a little
 * for a CPU of its own. The kernel's sysctl_sched_migration_cost has the same
 * default and the same purpose.
 */
#define MIGRATION_COST_NS	(500 * NSEC_PER_USEC)

/* A share of the whole machine, in fixed point. */
#define SHARE_ONE		(1ULL << 24)

/* cpu.weight of a cgroup nobody configured, and a nice-0 task's weight. */
#define CGROUP_WEIGHT_DFL	100

/*
 * The weight in its parent of a cgroup with cpu.idle set, on cpu.weight's
 * scale (1..10000): 1/100 of an ordinary sibling, about what SCHED_IDLE
 * entities get in the fair class.
 */
#define CGROUP_WEIGHT_IDLE	1

/*
 * Tunables, written by mus-runner into .rodata before the program is loaded.
 */

/*
 * Longest slice a task gets, when nothing waits (mus-runner --slice-us).
 * Also the unit of wake-up credit: a waking task goes ahead of the tasks
 * that queued during the last slice_ns (boost x slice_ns for a boosted one).
 */
const volatile u64 slice_ns = 5 * NSEC_PER_MSEC;

/*
 * Shortest slice (mus-runner --slice-min-us). Slices shrink from slice_ns
 * towards this as tasks wait (slice_ns x CPUs / (CPUs + waiting)); a
 * starving task rescued out of order runs this long. The context-switch
 * rate under load follows it: at 0.5 ms, hackbench switched 1.6-1.8x as
 * often as under the fair class, at 1 ms 1.0-1.3x
 * (evaluation/experiments/slice_min.sh); the fair class's base slice is
 * 0.75 ms x (1 + log2 CPUs), 1.5 ms on two.
 */
const volatile u64 slice_min_ns = 1000 * NSEC_PER_USEC;

/*
 * How long a task runs before the receiver of its sync wake-up (message
 * passing) may preempt it, unless the receiver is boosted more
 * (mus-runner --sync-grace-us; lead_over()). A sync waker is about to wait
 * for the answer, so preempting it early buys nothing and costs two switches
 * per message when it does not wait at once (a sender filling a socket).
 * 3 ms, the fair class's base slice from 8 CPUs (0.75 ms x (1 + log2 8)):
 * hackbench switched 1.09x as often as under the fair class at 1 ms, 0.95x
 * at 3 ms (evaluation/experiments/sync_grace.sh).
 */
const volatile u64 sync_grace_ns = 3000 * NSEC_PER_USEC;

/*
 * Whether a waking task that is owed the CPU preempts a running one that is
 * not (mus-runner --no-preempt turns it off, to measure weights alone).
 */
const volatile bool preempt_enabled = true;

/*
 * Weight used for a map entry whose weight is 0 (mus-runner --high-weight), so
 * that a hand-written `bpftool map update ... value 0 0 0 0 0 0 0 0` means
 * "boost with the default".
 */
const volatile u32 default_high_weight = MUS_WEIGHT_HIGH_DEFAULT;

/*
 * How often the map scan fingerprints high_prio_cgroups. This bounds how late
 * a boost written by user space takes effect.
 */
const volatile u64 map_scan_interval_ns = 100 * NSEC_PER_MSEC;

/*
 * The largest debt a task keeps across a sleep, as time of queue progress: a
 * task that once ran far beyond its share is placed at most this far behind
 * the queue when it wakes up (EEVDF bounds lag on both sides too).
 */
const volatile u64 max_debt_ns = 1000 * NSEC_PER_MSEC;

/* Number of possible CPUs, set by mus-runner (vtime advances this fast). */
const volatile u32 nr_cpus = 1;

/*
 * The machine's last-level caches, set by mus-runner from scx_utils::Topology:
 * how many, which one each CPU belongs to, and each one's CPUs (llc_cpus
 * holds every CPU grouped by cache, llc_first[l] being where cache l's
 * llc_size[l] CPUs start). CPUs the runner did not see count as cache 0.
 */
const volatile u32 nr_llcs = 1;
const volatile u32 cpu_llc[MUS_MAX_CPUS];
const volatile u32 llc_cpus[MUS_MAX_CPUS];
const volatile u32 llc_first[MUS_MAX_LLCS];
const volatile u32 llc_size[MUS_MAX_LLCS];

/*
 * cgroup ID -> weight. Pinned by mus-runner, written by mus-agent and bpftool.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MUS_MAP_MAX_ENTRIES);
	__type(key, u64);
	__type(value, struct mus_cgroup_prio);
} high_prio_cgroups SEC(".maps");

/* Counters indexed by enum mus_stat_idx, summed over CPUs by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MUS_NR_STATS);
	__type(key, u32);
	__type(value, u64);
} stats SEC(".maps");

/* What the scheduler remembers about each task. */
struct task_ctx {
	/* cgroup v2 membership and map generation the boost was resolved at */
	u64 cgid;
	u64 map_gen;
	/* weight of the nearest map entry over the cgroup ancestry; 0: none */
	u32 boost;
	/* the cgroup (cpu controller) and weight counted in while runnable */
	u32 counted_weight;
	u64 counted_cgid;
	/* when the task last got a CPU, to charge what it used */
	u64 started_at;
	/* its share when it started, in SHARE_ONE units */
	u64 share;
	/* when it was last queued, for the starvation rescue */
	u64 enqueued_at;
	/* when it last became runnable (woke up), for keep_running() */
	u64 runnable_at;
	/* held in THROTTLED_DSQ until this time (a cpu.max period end) */
	u64 throttled_until;
	/* CPU time up to this time is charged to cpu.max quotas */
	u64 bw_charged_at;
	/* the cache it last ran in, plus one (0: it has not run yet) */
	u32 last_llc;
	/* when it last stopped running, to tell whether it is cache-hot */
	u64 stopped_at;
	/* its wake-up in progress is a sync one (see lead_over()) */
	bool sync_wake;
	/*
	 * It waits ahead of its vtime (queue_key()): dsq_vtime holds its place
	 * in the queue, own_vtime what it is charged from.
	 */
	bool queued_ahead;
	u64 own_vtime;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

/*
 * What the scheduler remembers about each CPU, read by waking tasks on other
 * CPUs to decide whether to preempt it. Written only by the CPU itself.
 */
struct cpu_ctx {
	/* vtime the current task started at; 0: no task of ours runs */
	u64 vtime;
	/* when it started, its share and slice (its vtime now, its deadline) */
	u64 started_at;
	u64 share;
	u64 slice;
	/* the current task's cgroup and boost, for the exit dump */
	u64 cgid;
	u32 boost;
	/* a waker already kicked this CPU; cleared when the next task runs */
	bool kicked;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

/*
 * What the scheduler remembers about each cgroup of the cpu controller.
 * Fields marked [lock] change only under cgrp_lock; [atomic] ones with
 * __sync operations from any CPU.
 */
struct cgrp_ctx {
	/* cpu.weight, 1..10000 */
	u32 weight;
	/* cpu.idle */
	bool idle;
	/* weight of this cgroup's own map entry (0: none), and at which map_gen */
	u32 boost;
	u64 boost_gen;
	/* what it adds to its parent's child_wsum while active */
	u64 weight_in_parent;
	/* [lock] what it adds now: weight_in_parent when active, else 0 */
	u64 contributed;
	/* [lock] sum of the active children's contributions, and their number */
	u64 child_wsum;
	s64 nr_active_children;
	/* [atomic] runnable tasks directly in this cgroup, and their nice weights */
	s64 nr_tasks;
	s64 task_wsum;
	/* share of the machine (SHARE_ONE = all), valid at hweight_gen */
	u64 hweight;
	u64 hweight_gen;
	/* cpu.max: quota per period (0: unlimited); [atomic] use in period bw_idx */
	u64 quota_ns;
	u64 period_ns;
	u64 bw_idx;
	u64 bw_used;
};

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgrp_ctx);
} cgrp_ctxs SEC(".maps");

/* Each cache's CPUs as a cpumask, built at init for the idle-CPU search. */
struct llc_mask {
	struct bpf_cpumask __kptr *cpus;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MUS_MAX_LLCS);
	__type(key, u32);
	__type(value, struct llc_mask);
} llc_masks SEC(".maps");

/* State of the periodic map scan. */
struct map_scan {
	struct bpf_timer timer;
	u64 fingerprint;
	u64 nr_entries;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct map_scan);
} map_scan_state SEC(".maps");

/* Wakes an idle CPU when throttled tasks are due, if nobody dispatches. */
struct bw_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct bw_timer);
} bw_timer_state SEC(".maps");

/*
 * The node-wide variables that hot callbacks write live in sections of their
 * own (each its own map, so its own cache line): vtime_now is written on
 * every context switch, hweight_gen whenever a cgroup becomes (in)active, and
 * sharing a line would make each bounce the other between CPUs.
 */

/*
 * The node's progress: the vtime of the head of the queue a CPU last took a
 * task from (the smallest vtime still waiting there), or, while nothing
 * waits, of the tasks that start running (at most a slice ahead per switch).
 * One value for the whole node although the queues are per cache: vtime is
 * one currency across caches (stealing compares heads of different queues),
 * and the heads of busy queues stay within STEAL_SLICES of each other, so
 * this is about the furthest head; a task waking in a lagging cache is placed
 * at most that much later than its own queue's head would place it.
 * Updated without synchronisation from every CPU; a lost update only makes
 * the next waking task's credit slightly more generous.
 */
private(MUS_VTIME) u64 vtime_now;

/* Bumped when any cgroup's contribution changes: cached shares expire. */
private(MUS_HWGEN) u64 hweight_gen = 1;

/* Serialises changes of contributions ([lock] fields of struct cgrp_ctx). */
private(MUS_TREE) struct bpf_spin_lock cgrp_lock;

/*
 * Bumped by the map scan whenever high_prio_cgroups changed (and when a
 * cgroup's cpu.idle changes): boosts are resolved again.
 */
private(MUS_MAPGEN) u64 map_gen = 1;

/* When a CPU last looked for starving tasks; see STARVATION_NS. */
private(MUS_RESCUE) u64 last_starvation_scan;

/* cpu.max: cgroups with a quota, and the earliest time throttled tasks are due. */
private(MUS_BW) u64 nr_bw_cgroups;
private(MUS_BW) u64 bw_release_at;

static void stat_add(u32 idx, u64 delta)
{
	u64 *cnt = bpf_map_lookup_elem(&stats, &idx);

	/* per-CPU slot, and sched_ext callbacks don't preempt each other */
	if (cnt)
		*cnt += delta;
}

static struct cpu_ctx *lookup_cpu_ctx(s32 cpu)
{
	u32 zero = 0;

	return bpf_map_lookup_percpu_elem(&cpu_ctxs, &zero, cpu);
}

static struct task_ctx *lookup_task_ctx(struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

	if (!tctx)
		scx_bpf_error("task_ctx lookup failed for pid %d", p->pid);
	return tctx;
}

static struct cgrp_ctx *lookup_cgrp_ctx(struct cgroup *cgrp)
{
	struct cgrp_ctx *cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);

	if (!cgc)
		scx_bpf_error("cgrp_ctx lookup failed for cgroup %llu", cgrp->kn->id);
	return cgc;
}

/*
 * The topology tables are indexed through these helpers only. MUS_MAX_CPUS
 * and MUS_MAX_LLCS are powers of two, and masking (rather than comparing) is
 * what lets the verifier see every index in bounds after the compiler has
 * spilled and reloaded it; the runner never writes an out-of-range value.
 */
_Static_assert(!(MUS_MAX_CPUS & (MUS_MAX_CPUS - 1)), "MUS_MAX_CPUS: a power of two");
_Static_assert(!(MUS_MAX_LLCS & (MUS_MAX_LLCS - 1)), "MUS_MAX_LLCS: a power of two");

/* The last-level cache @cpu belongs to. */
static u32 llc_of(s32 cpu)
{
	return cpu_llc[(u32)cpu & (MUS_MAX_CPUS - 1)] & (MUS_MAX_LLCS - 1);
}

/* How many CPUs cache @llc has (never 0). */
static u32 llc_nr_cpus(u32 llc)
{
	u32 n = llc_size[llc & (MUS_MAX_LLCS - 1)];

	return n ?: (nr_cpus ?: 1);
}

/* CPU number @idx (modulo its size) of cache @llc; -1: the runner gave none */
static s32 llc_cpu(u32 llc, u32 idx)
{
	u32 n;

	llc &= MUS_MAX_LLCS - 1;
	n = llc_size[llc];
	if (!n)
		return -1;
	return llc_cpus[(llc_first[llc] + idx % n) & (MUS_MAX_CPUS - 1)];
}

/*
 * The queue @p goes to when it is to run on (or near) @cpu: that CPU's own
 * queue if @p may run nowhere else, else the queue of @cpu's cache.
 */
static u64 task_dsq(const struct task_struct *p, s32 cpu)
{
	if (p->nr_cpus_allowed == 1)
		return CPU_DSQ(cpu);
	return LLC_DSQ(llc_of(cpu));
}

/*
 * Whether @p may be inserted into another CPU's local queue: the kernel
 * ejects a scheduler that moves a migration-disabled task. Read
 * conservatively: for the current task the BPF prolog's own
 * migrate_disable() may be counted, and such a task is then simply queued.
 */
static bool may_move(const struct task_struct *p)
{
	return !p->migration_disabled;
}

/* Whether @p ran less than MIGRATION_COST_NS before @now. */
static bool cache_hot(struct task_struct *p, u64 now)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

	return tctx && tctx->stopped_at && now - tctx->stopped_at < MIGRATION_COST_NS;
}

/*
 * An idle CPU for @p, near @cpu: first in @cpu's cache (when @p may run on
 * every CPU, so that the cache's mask needs no intersection with @p's), then,
 * if @anywhere, anywhere @p may run. Claims it (clears its idle bit); -1 if
 * none.
 */
static s32 pick_idle_near(const struct task_struct *p, s32 cpu, bool anywhere)
{
	u32 llc = llc_of(cpu);
	struct llc_mask *m;
	s32 idle;

	if (nr_llcs <= 1)
		return scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (p->nr_cpus_allowed >= nr_cpus &&
	    (m = bpf_map_lookup_elem(&llc_masks, &llc)) && m->cpus) {
		idle = scx_bpf_pick_idle_cpu(cast_mask(m->cpus), 0);
		if (idle >= 0)
			return idle;
	}
	return anywhere ? scx_bpf_pick_idle_cpu(p->cpus_ptr, 0) : -1;
}

/* The context of @cgrp's ancestor at @level (@cgrp itself at its own level). */
static struct cgrp_ctx *ancestor_ctx(struct cgroup *cgrp, int level)
{
	struct cgrp_ctx *cgc;
	struct cgroup *anc;

	anc = bpf_cgroup_ancestor(cgrp, level);
	if (!anc) {
		scx_bpf_error("no ancestor at level %d of cgroup %llu", level,
			      cgrp->kn->id);
		return NULL;
	}
	cgc = lookup_cgrp_ctx(anc);
	bpf_cgroup_release(anc);
	return cgc;
}

/* An entry's weight as the scheduler honours it; see struct mus_cgroup_prio. */
static u32 entry_weight(const struct mus_cgroup_prio *prio)
{
	if (!prio->weight)
		return default_high_weight;
	return prio->weight > MUS_WEIGHT_MAX ? MUS_WEIGHT_MAX : prio->weight;
}

/*
 * @cgc's weight among its siblings: cpu.weight times its boost, or the idle
 * weight under cpu.idle (an operator's boost wins over cpu.idle). Never 0.
 */
static u64 cgrp_weight_in_parent(const struct cgrp_ctx *cgc)
{
	u64 w;

	if (cgc->boost)
		return ((u64)cgc->weight * cgc->boost / MUS_WEIGHT_NORMAL) ?: 1;
	if (cgc->idle)
		return CGROUP_WEIGHT_IDLE;
	w = cgc->weight;
	return w ?: CGROUP_WEIGHT_DFL;
}

/*
 * Brings @cgc's contribution to its parent @pcgc in line with whether @cgc is
 * active (has runnable tasks or active children) and with its current
 * weight. It reads the truth rather than applying a delta, so calls racing
 * with each other in any order converge: the last one sees the last change.
 * Returns whether anything changed (the caller then looks one level up).
 */
static bool sync_contribution(struct cgrp_ctx *cgc, struct cgrp_ctx *pcgc)
{
	bool changed = false;
	u64 target;

	bpf_spin_lock(&cgrp_lock);
	target = (cgc->nr_tasks > 0 || cgc->nr_active_children > 0) ?
		 cgc->weight_in_parent : 0;
	if (target != cgc->contributed) {
		pcgc->child_wsum += target - cgc->contributed;
		if (!cgc->contributed)
			pcgc->nr_active_children++;
		else if (!target)
			pcgc->nr_active_children--;
		cgc->contributed = target;
		changed = true;
	}
	bpf_spin_unlock(&cgrp_lock);
	return changed;
}

/*
 * Propagates a change of @cgrp's activity or weight towards the root, level
 * by level, until a level where nothing changed.
 */
static void propagate(struct cgroup *cgrp)
{
	struct cgrp_ctx *cgc, *pcgc;
	int level = cgrp->level, i;

	/* even the root's own tasks coming and going change its children's shares */
	__sync_fetch_and_add(&hweight_gen, 1);
	if (!level)
		return;
	cgc = ancestor_ctx(cgrp, level);
	bpf_for(i, 0, MUS_MAX_CGROUP_DEPTH) {
		if (!cgc || level - i <= 0)
			break;
		pcgc = ancestor_ctx(cgrp, level - i - 1);
		if (!pcgc || !sync_contribution(cgc, pcgc))
			break;
		cgc = pcgc;
	}
}

/*
 * Resolves @cgrp's own map entry again if the map changed since, and
 * returns whether its weight among its siblings changed.
 */
static bool refresh_boost(struct cgroup *cgrp, struct cgrp_ctx *cgc)
{
	struct mus_cgroup_prio *prio;
	u64 gen = map_gen, id, w;

	if (cgc->boost_gen == gen)
		return false;
	cgc->boost_gen = gen;
	id = cgrp->kn->id;
	prio = bpf_map_lookup_elem(&high_prio_cgroups, &id);
	cgc->boost = prio ? entry_weight(prio) : 0;
	w = cgrp_weight_in_parent(cgc);
	if (w == cgc->weight_in_parent)
		return false;
	cgc->weight_in_parent = w;
	return true;
}

/*
 * @cgrp's share of the machine, SHARE_ONE being all of it. Cached until the
 * tree changes (hweight_gen); recomputed from the root down, refreshing each
 * ancestor's boost on the way. A cgroup that is not active yet is counted as
 * if it had just joined its siblings.
 *
 * Tolerated race: the sums are read without cgrp_lock, so a concurrent
 * activation can make one computation use a sum from before it; that
 * activation bumped hweight_gen, so the next charge recomputes.
 */
static u64 cgrp_hweight(struct cgroup *cgrp, struct cgrp_ctx *cgc)
{
	struct cgrp_ctx *pcgc, *acgc;
	u64 gen = hweight_gen, hw = SHARE_ONE;
	bool reweighted = false;
	int level;

	if (cgc->hweight_gen == gen)
		return cgc->hweight;

	stat_add(MUS_STAT_WEIGHT_REFRESH, 1);
	pcgc = ancestor_ctx(cgrp, 0);
	bpf_for(level, 1, MUS_MAX_CGROUP_DEPTH) {
		struct cgroup *anc;
		u64 contrib, sum;

		if (!pcgc || level > cgrp->level)
			break;
		anc = bpf_cgroup_ancestor(cgrp, level);
		if (!anc)
			break;
		acgc = bpf_cgrp_storage_get(&cgrp_ctxs, anc, 0, 0);
		if (acgc && refresh_boost(anc, acgc)) {
			propagate(anc);
			reweighted = true;
		}
		bpf_cgroup_release(anc);
		if (!acgc)
			break;

		contrib = acgc->contributed;
		sum = pcgc->child_wsum + (pcgc->nr_tasks > 0 ? CGROUP_WEIGHT_DFL : 0);
		if (!contrib) {
			contrib = acgc->weight_in_parent ?: 1;
			sum += contrib;
		}
		hw = hw * contrib / (sum ?: 1);
		pcgc = acgc;
	}
	hw = hw ?: 1;
	/* a reweighted ancestor bumped hweight_gen: keep the old gen */
	cgc->hweight = hw;
	cgc->hweight_gen = reweighted ? 0 : gen;
	return hw;
}

/*
 * @p's share of the machine: its cgroup's, split among the cgroup's runnable
 * tasks by nice weight. Where the cgroup also has active children (only the
 * root can: cgroup v2 keeps processes out of inner cgroups), its tasks
 * together compete with them as one child of the default weight.
 */
static u64 task_share(struct task_struct *p, struct cgroup *cgrp,
		      struct cgrp_ctx *cgc)
{
	u64 share = cgrp_hweight(cgrp, cgc), w = p->scx.weight ?: 1;
	s64 tasks = cgc->task_wsum;
	u64 children = cgc->child_wsum;

	share = share * w / (tasks > (s64)w ? tasks : w);
	if (children)
		share = share * CGROUP_WEIGHT_DFL / (children + CGROUP_WEIGHT_DFL);
	return share ?: 1;
}

/*
 * Resolves @tctx->boost: the entry of @p's nearest cgroup v2 ancestor (itself
 * included) in the map, 0 if none. Cached per task until its cgroup or the
 * map changes. The cgroup is read without a reference: a task migrating
 * concurrently may be resolved against its old cgroup, and is resolved again
 * on its next switch because the cached ID then differs.
 */
static void refresh_task_boost(struct task_struct *p, struct task_ctx *tctx)
{
	struct cgroup *cgrp = BPF_CORE_READ(p, cgroups, dfl_cgrp);
	u64 cgid = BPF_CORE_READ(cgrp, kn, id);
	u64 gen = map_gen;
	int level, i;

	if (cgid == tctx->cgid && gen == tctx->map_gen)
		return;
	/* sampled before the walk: a change during it bumps map_gen again */
	tctx->cgid = cgid;
	tctx->map_gen = gen;
	tctx->boost = 0;

	level = BPF_CORE_READ(cgrp, level);
	bpf_for(i, 0, MUS_MAX_CGROUP_DEPTH) {
		struct mus_cgroup_prio *prio;
		struct cgroup *anc;
		u64 id;

		if (level - i < 0)
			break;
		/* ancestors[level] is the cgroup itself, ancestors[0] the root */
		if (bpf_core_read(&anc, sizeof(anc), &cgrp->ancestors[level - i]))
			break;
		id = BPF_CORE_READ(anc, kn, id);
		prio = bpf_map_lookup_elem(&high_prio_cgroups, &id);
		if (prio) {
			tctx->boost = entry_weight(prio);
			return;
		}
	}
}

/*
 * Wake-up credit of a task, as vtime: it goes ahead of the tasks that queued
 * during the last slice_ns (vtime advances about nr_cpus per nanosecond
 * while every CPU is busy), boost / 1024 times that for a boosted task.
 */
static u64 wake_credit(u32 boost)
{
	u64 credit = slice_ns * nr_cpus;

	if (boost > MUS_WEIGHT_NORMAL)
		credit = credit * boost / MUS_WEIGHT_NORMAL;
	return credit;
}

/*
 * Places a waking @p in the queue's vtime: a task that slept must not come
 * back with a hoard of unused vtime (at most its wake-up credit), nor with
 * more than max_debt_ns of debt.
 */
static void place_waking(struct task_struct *p, struct task_ctx *tctx)
{
	u64 now_v = vtime_now, credit = wake_credit(tctx->boost);
	u64 max_debt = max_debt_ns * nr_cpus;

	if (time_before(p->scx.dsq_vtime, now_v - credit))
		p->scx.dsq_vtime = now_v - credit;
	else if (time_before(now_v + max_debt, p->scx.dsq_vtime))
		p->scx.dsq_vtime = now_v + max_debt;
}

/*
 * The vtime @p is charged from: a task queued ahead of its vtime
 * (queue_key()) gets its own back once it leaves the queue (it runs, or is
 * queued again). Called first by every callback that reads a task's vtime
 * as its account rather than as its place.
 */
static void restore_vtime(struct task_struct *p, struct task_ctx *tctx)
{
	if (tctx->queued_ahead) {
		p->scx.dsq_vtime = tctx->own_vtime;
		tctx->queued_ahead = false;
	}
}

/*
 * Charges @p for what it ran since @tctx->started_at, by the inverse of the
 * share it ran at (computed when it started: a share that changed meanwhile
 * applies from its next start), and restarts the count at @now.
 */
static void charge_run(struct task_struct *p, struct task_ctx *tctx, u64 now)
{
	u64 ran = now - tctx->started_at;

	p->scx.dsq_vtime += ran * SHARE_ONE / (tctx->share ?: 1);
	stat_add(tctx->boost ? MUS_STAT_RUNTIME_BOOSTED_NS :
			       MUS_STAT_RUNTIME_NORMAL_NS, ran);
	tctx->started_at = now;
}

/*
 * Bounds what a runnable @p that was preempted or used up its slice (queued
 * again, or weighed against the queue's head to keep its CPU) is owed:
 * at most MAX_LAG_SLICES of its slices' charge, at the share it last ran
 * with, behind the node's progress.
 */
static void bound_lag(struct task_struct *p, const struct task_ctx *tctx)
{
	u64 floor = vtime_now - MAX_LAG_SLICES * slice_ns * SHARE_ONE /
				(tctx->share ?: SHARE_ONE);

	if (time_before(p->scx.dsq_vtime, floor))
		p->scx.dsq_vtime = floor;
}

/*
 * The slice of a task starting now on a CPU of cache @llc while @waiting
 * tasks wait for that CPU (its cache's queue and its own): slice_ns when
 * nothing waits, shrinking towards slice_min_ns as tasks queue up, so that
 * each waits about one round of short slices rather than a long one per task
 * ahead of it.
 */
static u64 slice_for(u32 llc, u64 waiting)
{
	u32 cpus = llc_nr_cpus(llc);
	u64 slice = slice_ns * cpus / (cpus + waiting);

	return slice < slice_min_ns ? slice_min_ns : slice;
}

/* The slice of a task starting now on @cpu (two queue-length lookups). */
static u64 task_slice(s32 cpu)
{
	u32 llc = llc_of(cpu);

	return slice_for(llc, scx_bpf_dsq_nr_queued(LLC_DSQ(llc)) +
			      scx_bpf_dsq_nr_queued(CPU_DSQ(cpu)));
}

/*
 * cpu.max. Periods are aligned to multiples of the period on the monotonic
 * clock, so that one timer serves every cgroup with the default period.
 * Burst (cpu.max.burst) is not honoured.
 */

/*
 * What @cgc has used of period @idx. Slices end on ticks, so a cgroup can
 * overrun its quota by up to a tick per CPU; the overrun is carried into the
 * next period (as the fair class carries negative runtime), so that the
 * average holds the limit.
 */
static u64 period_used(const struct cgrp_ctx *cgc, u64 idx)
{
	u64 used = cgc->bw_used;

	if (cgc->bw_idx == idx)
		return used;
	if (cgc->bw_idx + 1 == idx && used > cgc->quota_ns)
		return used - cgc->quota_ns;
	return 0;
}

/* How much of @cgc's quota is left in the current period (U64_MAX: no limit). */
static u64 quota_left(struct cgrp_ctx *cgc, u64 now)
{
	u64 used;

	if (!cgc->quota_ns || !cgc->period_ns)
		return (u64)-1;
	used = period_used(cgc, now / cgc->period_ns);
	return used >= cgc->quota_ns ? 0 : cgc->quota_ns - used;
}

/*
 * The least quota left over @cgrp and its ancestors, and the end of the
 * period of the one that has least. O(depth), and skipped entirely while no
 * cgroup has a quota.
 */
static u64 subtree_quota_left(struct cgroup *cgrp, u64 now, u64 *period_end)
{
	u64 least = (u64)-1;
	int level;

	if (!nr_bw_cgroups)
		return least;
	bpf_for(level, 1, MUS_MAX_CGROUP_DEPTH) {
		struct cgrp_ctx *cgc;
		u64 left;

		if (level > cgrp->level)
			break;
		cgc = ancestor_ctx(cgrp, level);
		if (!cgc)
			break;
		left = quota_left(cgc, now);
		if (left < least) {
			least = left;
			*period_end = (now / cgc->period_ns + 1) * cgc->period_ns;
		}
	}
	return least;
}

/*
 * Charges what @p ran since it was last charged to the quota of @cgrp and of
 * each ancestor that has one. Called on every tick as well as when @p stops,
 * so that a task that keeps its CPU slice after slice is charged as it goes.
 */
static void charge_quota(struct task_ctx *tctx, struct cgroup *cgrp, u64 now)
{
	u64 ran = now - tctx->bw_charged_at;
	int level;

	if (!nr_bw_cgroups || !tctx->bw_charged_at ||
	    time_before(now, tctx->bw_charged_at))
		return;
	tctx->bw_charged_at = now;
	bpf_for(level, 1, MUS_MAX_CGROUP_DEPTH) {
		struct cgrp_ctx *cgc;
		u64 idx;

		if (level > cgrp->level)
			break;
		cgc = ancestor_ctx(cgrp, level);
		if (!cgc)
			break;
		if (!cgc->quota_ns || !cgc->period_ns)
			continue;
		idx = now / cgc->period_ns;
		/*
		 * Tolerated race: two CPUs starting a new period at once may
		 * both roll it over, losing one charge of at most a tick.
		 */
		if (cgc->bw_idx != idx) {
			cgc->bw_used = period_used(cgc, idx);
			cgc->bw_idx = idx;
		}
		__sync_fetch_and_add(&cgc->bw_used, ran);
	}
}

/* Holds @p back until @until, the end of its cgroup's period. */
static void throttle(struct task_struct *p, struct task_ctx *tctx, u64 until,
		     u64 enq_flags)
{
	u64 due = bw_release_at;
	u32 zero = 0;
	struct bw_timer *t;

	tctx->throttled_until = until;
	scx_bpf_dsq_insert(p, THROTTLED_DSQ, slice_ns, enq_flags);
	stat_add(MUS_STAT_THROTTLED, 1);
	if (due && !time_before(until, due))
		return;
	/* tolerated race: a lost update releases a task one period late at worst */
	bw_release_at = until;
	t = bpf_map_lookup_elem(&bw_timer_state, &zero);
	if (t)
		bpf_timer_start(&t->timer, until - scx_bpf_now(), 0);
}

/* Whether @p's cgroup (or an ancestor) used its quota: then @p is held back. */
static bool try_throttle(struct task_struct *p, struct task_ctx *tctx,
			 u64 enq_flags)
{
	struct cgroup *cgrp;
	u64 now, until = 0;
	bool over;

	if (!nr_bw_cgroups)
		return false;
	now = scx_bpf_now();
	cgrp = scx_bpf_task_cgroup(p);
	if (!cgrp)
		return false;
	over = !subtree_quota_left(cgrp, now, &until);
	bpf_cgroup_release(cgrp);
	if (over)
		throttle(p, tctx, until, enq_flags);
	return over;
}

/*
 * Moves the throttled tasks whose period ended back to their queues.
 * Called from ops.dispatch (a context where tasks may move between queues);
 * O(throttled tasks), and only once a period ended.
 */
static void release_throttled(void)
{
	u64 now = scx_bpf_now(), due = bw_release_at, next = 0;
	struct task_struct *p;

	if (!due || time_before(now, due))
		return;
	if (__sync_val_compare_and_swap(&bw_release_at, due, 0) != due)
		return;
	bpf_for_each(scx_dsq, p, THROTTLED_DSQ, 0) {
		struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

		if (tctx && time_before(now, tctx->throttled_until)) {
			if (!next || time_before(tctx->throttled_until, next))
				next = tctx->throttled_until;
			continue;
		}
		s32 cpu = scx_bpf_task_cpu(p);

		scx_bpf_dsq_move_set_vtime(BPF_FOR_EACH_ITER, p->scx.dsq_vtime);
		if (scx_bpf_dsq_move_vtime(BPF_FOR_EACH_ITER, p, task_dsq(p, cpu), 0)) {
			cpu = pick_idle_near(p, cpu, true);

			if (cpu >= 0)
				scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		}
	}
	if (next)
		__sync_val_compare_and_swap(&bw_release_at, 0, next);
}

/* The timer that wakes a CPU to release throttled tasks if all are idle. */
static int bw_timer_fn(void *map, u32 *key, struct bw_timer *t)
{
	const struct cpumask *possible = scx_bpf_get_possible_cpumask();
	s32 cpu = scx_bpf_pick_any_cpu(possible, 0);

	scx_bpf_put_cpumask(possible);
	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	return 0;
}

/*
 * Whether @victim's current task should give way to a waking task of boost
 * @boost placed at @vtime (woken by a sync wake-up if @sync), and by how much
 * its deadline is later than @vtime (0: not later, or not ours). A waker
 * boosted more may be @credit further ahead (below).
 *
 * The running task's deadline, as in EEVDF, is the vtime at which its slice
 * ends: where its slice, charged at its share, takes it (or its vtime now, if
 * it ran past that: slices end on ticks). A task of a small share (one of
 * many noise threads) has a far deadline, since one slice is charged tens of
 * milliseconds of vtime to it, so a task that wakes a little ahead of it in
 * vtime still preempts it; how far ahead is bounded by that slice's charge,
 * so shares hold within a slice. (EEVDF also adds the waker's own slice to
 * its deadline; here that only made small-share wakers, the bystander of the
 * wakeups test, wait behind CPU hogs: the waker is compared by its vtime.)
 *
 * A global function (not static, not inlined: at most five scalar arguments),
 * so that the verifier checks it once rather than at each of pick_victim()'s
 * three candidates: inlined, mus took 7.6-8.5 s to load on 6.12, 3.4-5.1
 * before these deadlines, and 3.1-3.6 s with this.
 */
__attribute__((noinline))
u64 lead_over(s32 victim, u64 vtime, u32 boost, u64 credit, bool sync)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(victim);
	u64 cur, end, now = scx_bpf_now();

	if (!cctx || !cctx->vtime || cctx->kicked)
		return 0;
	/*
	 * Against a sync wake-up (a task waking another through a pipe or a
	 * socket, and about to wait for its answer: SCX_WAKE_SYNC), a task
	 * that has run less than sync_grace_ns is not preempted: message
	 * passing would otherwise turn every message into a context switch,
	 * the waker preempted by its receiver and back. Other wake-ups (a
	 * timer, a device, a futex) get no such wait: slices end on ticks
	 * (4 ms at HZ=250), so a waker refused here would wait for the next
	 * tick. A boosted waker is exempt against a task boosted less: being
	 * on a CPU at once is what a boost is for.
	 */
	if (sync && now - cctx->started_at < sync_grace_ns && boost <= cctx->boost)
		return 0;
	cur = cctx->vtime;
	if (time_before(cctx->started_at, now))
		cur += (now - cctx->started_at) * SHARE_ONE / (cctx->share ?: 1);
	end = cctx->vtime + cctx->slice * SHARE_ONE / (cctx->share ?: 1);
	if (time_before(cur, end))
		cur = end;
	/*
	 * A waker boosted more than the running task may be a further wake
	 * credit ahead and still preempt it: being on a CPU at once is what a
	 * boost is for, and a boosted task that gets its share is often a
	 * little ahead of a neighbour that just started. Shares still hold: a
	 * boosted task more than that ahead waits its turn like any other.
	 * Under saturated Redis next to noise, this and the deadlines turned
	 * 45-87 refused wake-ups of the boosted pair per 15000 requests into
	 * about 20 (evaluation/README.md, redis_sat_ab.sh).
	 */
	if (boost > cctx->boost)
		cur += credit;
	return time_before(vtime, cur) ? cur - vtime : 0;
}

/*
 * For a waking @p (@tctx its context) that no idle CPU took: the CPU whose
 * task's deadline is furthest beyond @p's vtime (lead_over()) among @p's CPU
 * and two distinct random CPUs of its cache (the power of two choices: no scan of
 * every CPU; the cache's, because those CPUs serve the queue @p goes to;
 * distinct, because two independent draws were the same CPU a quarter of
 * the time on a cache of two, and the other CPU went unseen), -1 if none
 * should give way. A task that may run on one CPU only looks at that one.
 * @p's CPU is taken at once if the wake-up is handled there (a timer or an
 * interrupt on the CPU @p slept on) and its task should give way: preempting
 * the local CPU needs no IPI, which is most of a wake-up's cost when the
 * alternative is only a little further ahead. Tolerated race: CPU states are
 * read without locks, so a CPU that switched tasks meanwhile may be preempted
 * needlessly; its dispatch then keeps the right task.
 */
static s32 pick_victim(struct task_struct *p, const struct task_ctx *tctx,
		       bool sync)
{
	u64 credit = wake_credit(tctx->boost);
	s32 best = -1, cpu = scx_bpf_task_cpu(p), i;
	u64 lead, best_lead = 0;
	u32 llc = llc_of(cpu), n = llc_nr_cpus(llc);
	/* the second CPU is 1..n-1 places after the first, modulo n */
	u32 first = bpf_get_prandom_u32() % n;
	u32 step = n > 1 ? 1 + bpf_get_prandom_u32() % (n - 1) : 0;

	bpf_for(i, 0, p->nr_cpus_allowed == 1 ? 1 : 3) {
		if (i)
			cpu = llc_cpu(llc, first + (i - 1) * step);
		if (cpu < 0 || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		lead = lead_over(cpu, p->scx.dsq_vtime, tctx->boost, credit, sync);
		if (!i && lead && cpu == bpf_get_smp_processor_id())
			return cpu;
		/* the previous CPU wins ties: its cache is warm */
		if (lead > best_lead) {
			best_lead = lead;
			best = cpu;
		}
	}
	return best;
}

/*
 * Marks @victim as preempted (no other waker picks it until its next task
 * runs) and returns whether its current task is boosted less than @boost.
 */
static bool claim_victim(s32 victim, u32 boost)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(victim);

	stat_add(MUS_STAT_PREEMPTIONS, 1);
	if (!cctx)
		return false;
	cctx->kicked = true;
	return boost > cctx->boost;
}

s32 BPF_STRUCT_OPS(mus_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	struct task_ctx *tctx;
	bool is_idle = false;
	s32 cpu;

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (!(tctx = lookup_task_ctx(p)))
		return cpu;
	/* ops.enqueue is not told; it reads (and clears) this */
	tctx->sync_wake = wake_flags & SCX_WAKE_SYNC;
	if (!is_idle)
		return cpu;
	if (nr_bw_cgroups)
		return cpu; /* ops.enqueue checks the quota */
	tctx->sync_wake = false; /* no ops.enqueue after a direct insert */
	/*
	 * Nobody to be fair against on an idle CPU: run right away, placed
	 * like any waking task so that its vtime carries no hoard of credit
	 * into later comparisons.
	 */
	refresh_task_boost(p, tctx);
	restore_vtime(p, tctx);
	place_waking(p, tctx);
	stat_add(MUS_STAT_DISPATCH_IDLE, 1);
	/* ops.running sets the slice it gets (so do the inserts below) */
	scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
	return cpu;
}

/*
 * A cache-hot task was queued behind @dsq's head and found no idle CPU in its
 * cache. If the head itself is no longer hot (it has waited a while), an idle
 * CPU of another cache may take it: claim one, so that an overloaded cache
 * next to an idle one does not stay so (idle CPUs have no tick to notice).
 */
static s32 kick_for_head(u64 dsq, struct task_struct *p, u64 now)
{
	struct task_struct *head = __COMPAT_scx_bpf_dsq_peek(dsq);

	if (!head || head == p || cache_hot(head, now))
		return -1;
	return scx_bpf_pick_idle_cpu(head->cpus_ptr, 0);
}

/*
 * Where a boosted waker @p that found no CPU waits in @dsq: ahead of the
 * queue's head when the head is boosted less and @p is at most its wake
 * credit behind it; else at its vtime. This is lead_over()'s rule for a
 * running task applied to a queued one: under saturated Redis next to
 * noise, the server's and the client's wake-ups found the other CPU between
 * two tasks or running the other of the pair, and then waited behind noise
 * threads a little behind them in vtime, a noise slice per request in
 * flight; and a victim kicked for a boosted waker takes the queue's head.
 * Shares hold: the place is lent, not the vtime: @p is charged from its own
 * vtime (restore_vtime()), so a boosted task more than its credit ahead of
 * the others waits its turn like any other.
 * Cost: a peek at the head and one task storage lookup, for boosted wakers
 * only. Tolerated race: the head is read without the queue's lock; a stale
 * head misplaces one wake-up by at most the credit.
 */
static u64 queue_key(struct task_struct *p, struct task_ctx *tctx, u64 dsq)
{
	struct task_struct *head;
	struct task_ctx *htctx;
	u64 v = p->scx.dsq_vtime, h;

	if (!tctx->boost || !(head = __COMPAT_scx_bpf_dsq_peek(dsq)))
		return v;
	h = head->scx.dsq_vtime;
	if (!time_before(h, v) || !time_before(v, h + wake_credit(tctx->boost)))
		return v;
	htctx = bpf_task_storage_get(&task_ctxs, head, 0, 0);
	if (htctx && htctx->boost >= tctx->boost)
		return v;
	tctx->own_vtime = v;
	tctx->queued_ahead = true;
	stat_add(MUS_STAT_QUEUE_JUMPS, 1);
	return h - 1;
}

void BPF_STRUCT_OPS(mus_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	s32 cpu = scx_bpf_task_cpu(p), idle, victim = -1;
	bool sync;
	u64 now, dsq;

	if (!tctx) {
		scx_bpf_dsq_insert_vtime(p, task_dsq(p, cpu), slice_ns, vtime_now,
					 enq_flags);
		return;
	}
	restore_vtime(p, tctx);
	/* set by ops.select_cpu for this wake-up only (not called for pinned tasks) */
	sync = tctx->sync_wake;
	tctx->sync_wake = false;
	if (try_throttle(p, tctx, enq_flags))
		return;
	/*
	 * SCX_OPS_ENQ_LAST: the CPU's last runnable task, whose slice ended with
	 * nothing else queued, comes through here (only so that cpu.max can hold
	 * it back); it simply goes on running.
	 */
	if (enq_flags & SCX_ENQ_LAST) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		return;
	}
	refresh_task_boost(p, tctx);
	if (enq_flags & SCX_ENQ_WAKEUP)
		place_waking(p, tctx);
	else
		bound_lag(p, tctx);
	now = scx_bpf_now();
	tctx->enqueued_at = now;

	/*
	 * An idle CPU takes it at once: one of its cache, or, unless @p is
	 * cache-hot (it was just preempted or its slice ended), one of another
	 * cache. Straight into the local queue when that is @p's own CPU; else
	 * @p is queued below and the idle CPU kicked, to take it in its
	 * dispatch. Inserting into another CPU's local queue from here moves
	 * @p between run queues under both their locks, with interrupts off,
	 * on the waker's CPU: under saturated Redis next to noise, that work
	 * on the boosted pair's own CPUs cost them 8-32 % more CPU per request,
	 * and their p99 was 1.1-1.9x what it is with the kicked CPU doing it in
	 * its own time (evaluation/README.md, "Remote inserts"). One exception
	 * below.
	 */
	idle = pick_idle_near(p, cpu, !cache_hot(p, now));
	if (idle == cpu) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		scx_bpf_kick_cpu(idle, SCX_KICK_IDLE);
		stat_add(MUS_STAT_DISPATCH_IDLE, 1);
		return;
	}
	/*
	 * An idle CPU of another cache still gets @p itself, directly: kicked,
	 * it would steal its new cache's queue's head instead, whichever task
	 * that is, and tasks would change caches with nothing owed (the
	 * two-socket guest test counts such moves).
	 */
	if (idle >= 0 && llc_of(idle) != llc_of(cpu) && may_move(p)) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL_ON | idle, slice_ns, enq_flags);
		scx_bpf_kick_cpu(idle, SCX_KICK_IDLE);
		stat_add(MUS_STAT_DISPATCH_IDLE, 1);
		return;
	}

	/*
	 * Else, if it just woke, maybe preempt a CPU. A boosted waker against a
	 * task boosted less on @p's own CPU goes straight into its local queue,
	 * ahead and preempting at once (SCX_ENQ_PREEMPT); a victim elsewhere is
	 * kicked below and, as the rules of queue_key() and gives_way() put a
	 * boosted waker first, takes @p from the queue in its dispatch.
	 */
	if (idle < 0 && preempt_enabled && (enq_flags & SCX_ENQ_WAKEUP))
		victim = pick_victim(p, tctx, sync);
	if (victim >= 0 && claim_victim(victim, tctx->boost) && victim == cpu) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns,
				   enq_flags | SCX_ENQ_PREEMPT);
		return;
	}

	/*
	 * @p's CPU is the one ops.select_cpu chose (a wake-up) or the one it
	 * ran on: its cache's queue, where its data is warm.
	 */
	dsq = task_dsq(p, cpu);
	scx_bpf_dsq_insert_vtime(p, dsq, slice_ns,
				 (enq_flags & SCX_ENQ_WAKEUP) ?
				 queue_key(p, tctx, dsq) : p->scx.dsq_vtime,
				 enq_flags);
	if (idle < 0 && victim < 0 && nr_llcs > 1)
		idle = kick_for_head(dsq, p, now);
	if (idle >= 0)
		scx_bpf_kick_cpu(idle, SCX_KICK_IDLE);
	else if (victim >= 0)
		scx_bpf_kick_cpu(victim, SCX_KICK_PREEMPT);
}

/*
 * Whether @prev (@tctx its context), whose slice ran out, gives its CPU to
 * @next, owed it by @next_vtime (@next NULL: another cache's head, compared
 * by vtime alone). Boosts bend the vtime order both ways, by lead_over()'s
 * rule:
 * - a @next boosted more than @prev goes first while it is at most its wake
 *   credit behind @prev: a boosted waker that found no CPU to preempt (the
 *   other CPUs between two tasks, or running the other of a client-server
 *   pair) must not wait a noise slice because a noise thread's coarse vtime
 *   is a little behind its own;
 * - a @prev boosted more than @next, runnable for less than slice_ns since
 *   it woke (a boosted server in the middle of a burst of requests), keeps
 *   its CPU: slices shrink to slice_min_ns as the noise queues up, so such a
 *   server was preempted mid-burst, and every request in flight waited a
 *   noise slice (evaluation/experiments/redis_sat_ab.sh). A boosted task that
 *   stays runnable (a CPU hog) is exempt for its first slice_ns only.
 * Shares hold: neither bends the order by more than a credit or a slice.
 * Cost: one task storage lookup, at a slice's end only.
 */
static bool gives_way(const struct task_struct *prev,
		      const struct task_ctx *tctx, u64 next_vtime,
		      struct task_struct *next, u64 now)
{
	struct task_ctx *ntctx;
	u32 next_boost;

	if (!next)
		return time_before(next_vtime, prev->scx.dsq_vtime);
	ntctx = bpf_task_storage_get(&task_ctxs, next, 0, 0);
	next_boost = ntctx ? ntctx->boost : 0;
	if (next_boost > tctx->boost)
		return time_before(next_vtime, prev->scx.dsq_vtime +
						 wake_credit(next_boost));
	if (!time_before(next_vtime, prev->scx.dsq_vtime))
		return false;
	return !(tctx->boost > next_boost && now - tctx->runnable_at < slice_ns);
}

/*
 * Whether @prev, whose slice ran out, should keep its CPU for another slice
 * (which it then gets) rather than give it to @next, owed it by @next_vtime
 * (@has_next false: nothing waits that this CPU would take; @next NULL: a
 * task of another cache).
 *
 * The kernel calls ops.dispatch before it puts @prev back in the queue, so the
 * queue's head would always win, even against a @prev with a smaller vtime: a
 * heavy task could never run two slices in a row and, with as many waiting
 * tasks as CPUs, weights would count for little. So compare @prev with the
 * head, once @prev is charged for what it ran (ops.stopping, which comes after
 * this, charges only the rest). Heads are peeked without the queues'
 * locks: if one is dequeued meanwhile, one decision is made on a stale vtime.
 */
static bool keep_running(struct task_struct *prev, bool has_next,
			 u64 next_vtime, struct task_struct *next)
{
	struct task_ctx *tctx;
	struct cpu_ctx *cctx;
	u64 now = scx_bpf_now();
	s32 cpu;

	if (!prev || !(prev->scx.flags & SCX_TASK_QUEUED))
		return false;
	tctx = lookup_task_ctx(prev);
	if (!tctx || time_before(now, tctx->started_at))
		return false;
	if (nr_bw_cgroups) {
		/*
		 * scx_bpf_task_cgroup() is refused for @prev here (ops.dispatch
		 * does not operate on it): find its cgroup by the ID counted in.
		 */
		struct cgroup *cgrp = bpf_cgroup_from_id(tctx->counted_cgid);
		u64 until = 0;
		bool over;

		if (!cgrp)
			return false;
		over = !subtree_quota_left(cgrp, now, &until);
		bpf_cgroup_release(cgrp);
		if (over)
			return false;
	}

	/*
	 * From here on @prev runs on: a kick that did not take the CPU is
	 * forgotten, or the CPU would be spared every later waker for as long
	 * as @prev runs on.
	 */
	cpu = bpf_get_smp_processor_id();
	cctx = lookup_cpu_ctx(cpu);
	if (!has_next) {
		if (cctx)
			cctx->kicked = false;
		prev->scx.slice = task_slice(cpu);
		return true;
	}
	/*
	 * Charge what it ran so far before bounding its lag: a bound applied
	 * to an uncharged vtime would be applied again to the same runtime at
	 * the next check, and a task kept running for many slices would be
	 * charged far beyond what it ran.
	 */
	charge_run(prev, tctx, now);
	bound_lag(prev, tctx);
	if (gives_way(prev, tctx, next_vtime, next, now))
		return false;
	/*
	 * Only a task that stays gets a slice: one that goes back to the queue
	 * with a slice left would be put at the head of the local queue.
	 */
	prev->scx.slice = task_slice(cpu);
	/* pick_victim() weighs the task from here, like one that just started */
	if (cctx) {
		cctx->vtime = prev->scx.dsq_vtime ?: 1;
		cctx->started_at = now;
		cctx->slice = prev->scx.slice;
		cctx->kicked = false;
	}
	return true;
}

/* Moves every task queued in @dsq longer than STARVATION_NS to RESCUE_DSQ. */
static void rescue_from(u64 dsq, u64 now)
{
	struct task_struct *p;

	if (!scx_bpf_dsq_nr_queued(dsq))
		return;
	/* from the tail, where the starving are (the largest vtimes) */
	bpf_for_each(scx_dsq, p, dsq, SCX_DSQ_ITER_REV) {
		struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

		if (!tctx || now - tctx->enqueued_at < STARVATION_NS)
			continue;
		/* enough to make progress, not enough to distort the shares */
		scx_bpf_dsq_move_set_slice(BPF_FOR_EACH_ITER, slice_min_ns);
		if (scx_bpf_dsq_move(BPF_FOR_EACH_ITER, p, RESCUE_DSQ, 0))
			stat_add(MUS_STAT_STARVATION_RESCUES, 1);
	}
}

/*
 * Moves every task queued longer than STARVATION_NS to RESCUE_DSQ, if the last
 * scan is older than STARVATION_SCAN_NS. One CPU scans at a time (the
 * compare-and-swap); ten times a second, O(queues + queued tasks).
 */
static void rescue_starving(void)
{
	u64 now = scx_bpf_now(), last = last_starvation_scan;
	u32 i;

	if (now - last < STARVATION_SCAN_NS ||
	    __sync_val_compare_and_swap(&last_starvation_scan, last, now) != last)
		return;
	bpf_for(i, 0, nr_llcs)
		rescue_from(LLC_DSQ(i), now);
	bpf_for(i, 0, nr_cpus)
		rescue_from(CPU_DSQ(i), now);
}

/*
 * A queue's head is the smallest vtime waiting there: the node's progress.
 * Follow it by at most two slices per dispatch (about twice the pace of a
 * busy queue): when only far-behind tasks wait (a starving BestEffort thread
 * charged seconds for one slice), the node must not leap to them, or every
 * task waking next would be placed behind the running ones.
 */
static void follow_head(u64 head_vtime)
{
	u64 now_v = vtime_now;

	if (time_before(now_v, head_vtime))
		vtime_now = time_before(head_vtime, now_v + 2 * slice_ns) ?
			    head_vtime : now_v + 2 * slice_ns;
}

/*
 * The vtime from which a CPU of another cache may take @p: its own, plus
 * STEAL_SLICES of its slices' charge at the share it last ran with.
 */
static u64 steal_vtime(struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	u64 share = tctx && tctx->share ? tctx->share : SHARE_ONE;

	return p->scx.dsq_vtime + STEAL_SLICES * slice_ns * SHARE_ONE / share;
}

/*
 * The other cache whose queue's head this CPU (of cache @llc) could take
 * soonest, by steal_vtime, returned in @vtime; -1 if none has a waiting
 * task. Looks at every other cache when there are at most three or when @all
 * (the CPU has nothing else to run: an idle CPU must find work anywhere),
 * else at two picked at random (the power of two choices), so a busy CPU's
 * dispatch costs O(1) peeks whatever the number of caches. When @idle (the
 * CPU's own queues and its previous task have nothing to run), a cache-hot
 * head is left where it is: its own cache's CPUs are about to take it, and
 * the CPU is kicked again by kick_for_head() once it has waited.
 */
static s32 pick_steal(u32 llc, bool all, bool idle, u64 *vtime)
{
	bool every = all || nr_llcs <= 3;
	struct task_struct *head;
	u64 v, now = scx_bpf_now();
	s32 best = -1;
	u32 i, l;

	bpf_for(i, 0, every ? nr_llcs : 2) {
		l = every ? i : (llc + 1 + bpf_get_prandom_u32() % (nr_llcs - 1)) % nr_llcs;
		if (l == llc)
			continue;
		head = __COMPAT_scx_bpf_dsq_peek(LLC_DSQ(l));
		if (!head || (idle && cache_hot(head, now)))
			continue;
		v = steal_vtime(head);
		if (best < 0 || time_before(v, *vtime)) {
			best = l;
			*vtime = v;
		}
	}
	return best;
}

/*
 * A CPU serves, in this order: rescued starving tasks (RESCUE_DSQ, which the
 * kernel consumes before calling this; a task rescued here is taken at the
 * next dispatch of any CPU it may run on); @prev again if no
 * waiting task is owed the CPU more; the head of another cache's queue if it
 * is owed the CPU by more than STEAL_SLICES (see pick_steal); the smaller
 * vtime of its own queue's head and its cache's queue's head. A CPU with
 * nothing to run takes another cache's head that is not cache-hot; one whose
 * queues hold only tasks it may not run takes from any other cache.
 */
void BPF_STRUCT_OPS(mus_dispatch, s32 cpu, struct task_struct *prev)
{
	u32 llc = llc_of(cpu), i;
	struct task_struct *shared, *own;
	u64 head_vtime = 0, steal_v = 0;
	bool has_head, own_first, idle;
	s32 steal = -1;

	if (nr_bw_cgroups)
		release_throttled();
	rescue_starving();

	shared = __COMPAT_scx_bpf_dsq_peek(LLC_DSQ(llc));
	own = __COMPAT_scx_bpf_dsq_peek(CPU_DSQ(cpu));
	own_first = own && (!shared ||
			    time_before(own->scx.dsq_vtime, shared->scx.dsq_vtime));
	has_head = own || shared;
	/* nothing of its own to run, not even @prev */
	idle = !has_head && !(prev && (prev->scx.flags & SCX_TASK_QUEUED));
	if (has_head) {
		head_vtime = own_first ? own->scx.dsq_vtime : shared->scx.dsq_vtime;
		follow_head(head_vtime);
	}
	if (nr_llcs > 1) {
		steal = pick_steal(llc, !has_head, idle, &steal_v);
		if (steal >= 0 && has_head && !time_before(steal_v, head_vtime))
			steal = -1;
	}

	/* no ops.stopping/running in between: keep_running() charged it */
	if (keep_running(prev, has_head || steal >= 0,
			 steal >= 0 ? steal_v : head_vtime,
			 steal >= 0 ? NULL : own_first ? own : shared))
		return;
	if (steal >= 0 && scx_bpf_dsq_move_to_local(LLC_DSQ(steal), 0)) {
		stat_add(idle ? MUS_STAT_IDLE_STEALS : MUS_STAT_STEALS, 1);
		return;
	}
	if ((own_first && scx_bpf_dsq_move_to_local(CPU_DSQ(cpu), 0)) ||
	    scx_bpf_dsq_move_to_local(LLC_DSQ(llc), 0) ||
	    scx_bpf_dsq_move_to_local(CPU_DSQ(cpu), 0)) {
		stat_add(MUS_STAT_DISPATCH_SHARED, 1);
		return;
	}
	/*
	 * Its queues still hold tasks, none of which this CPU may run (rather
	 * than another CPU of the cache having just taken the head): rather
	 * than idle, take from any cache.
	 */
	if (nr_llcs <= 1 || (!scx_bpf_dsq_nr_queued(LLC_DSQ(llc)) &&
			     !scx_bpf_dsq_nr_queued(CPU_DSQ(cpu))))
		return;
	bpf_for(i, 0, nr_llcs) {
		if (i != llc && scx_bpf_dsq_move_to_local(LLC_DSQ(i), 0)) {
			stat_add(MUS_STAT_IDLE_STEALS, 1);
			return;
		}
	}
}

/*
 * Counts @p in (@delta 1) or out (-1) of its cgroup's runnable tasks, and
 * propagates the cgroup's activity when it changed. The cgroup counted in is
 * remembered, so that @p is counted out of the same one even if the kernel
 * moved it meanwhile.
 */
static void count_runnable(struct task_struct *p, struct task_ctx *tctx, int delta)
{
	struct cgroup *cgrp;
	struct cgrp_ctx *cgc;
	s64 weight, was;

	if (delta > 0) {
		cgrp = scx_bpf_task_cgroup(p);
		if (!cgrp)
			return;
		tctx->counted_cgid = cgrp->kn->id;
		tctx->counted_weight = p->scx.weight;
		weight = tctx->counted_weight;
	} else {
		if (!tctx->counted_cgid)
			return;
		/* the cgroup the task is in now is almost always the one counted */
		cgrp = scx_bpf_task_cgroup(p);
		if (cgrp && cgrp->kn->id != tctx->counted_cgid) {
			bpf_cgroup_release(cgrp);
			cgrp = bpf_cgroup_from_id(tctx->counted_cgid);
		}
		tctx->counted_cgid = 0;
		if (!cgrp)
			return;
		weight = -(s64)tctx->counted_weight;
	}
	cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);
	if (cgc) {
		__sync_fetch_and_add(&cgc->task_wsum, weight);
		was = __sync_fetch_and_add(&cgc->nr_tasks, delta);
		/* the cgroup's activity changes only on 0 <-> 1 */
		if ((delta > 0 && was == 0) || (delta < 0 && was == 1)) {
			if (delta > 0)
				stat_add(MUS_STAT_CGROUP_ACTIVATIONS, 1);
			propagate(cgrp);
		}
	}
	bpf_cgroup_release(cgrp);
}

void BPF_STRUCT_OPS(mus_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);

	if (tctx) {
		tctx->runnable_at = scx_bpf_now();
		count_runnable(p, tctx, 1);
	}
}

void BPF_STRUCT_OPS(mus_quiescent, struct task_struct *p, u64 deq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);

	if (tctx)
		count_runnable(p, tctx, -1);
}

/* nice changed: move @p's weight in its cgroup's sum if it is counted in. */
void BPF_STRUCT_OPS(mus_set_weight, struct task_struct *p, u32 weight)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	struct cgroup *cgrp;
	struct cgrp_ctx *cgc;

	if (!tctx || !tctx->counted_cgid)
		return;
	cgrp = bpf_cgroup_from_id(tctx->counted_cgid);
	if (!cgrp)
		return;
	cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);
	if (cgc) {
		__sync_fetch_and_add(&cgc->task_wsum,
				     (s64)weight - (s64)tctx->counted_weight);
		tctx->counted_weight = weight;
	}
	bpf_cgroup_release(cgrp);
}

void BPF_STRUCT_OPS(mus_running, struct task_struct *p)
{
	struct task_ctx *tctx;
	struct cpu_ctx *cctx;
	struct cgroup *cgrp;
	struct cgrp_ctx *cgc;
	u64 now = scx_bpf_now(), slice, until = 0, left, waiting;
	s32 cpu = bpf_get_smp_processor_id();
	u32 llc = llc_of(cpu);

	/*
	 * While nothing waits, the queue's progress follows the running tasks,
	 * but by at most one slice per switch: a task far ahead of the others
	 * that runs out of order (a wake-up on an idle CPU) must not drag
	 * everyone's wake-up credit along and so erase its own debt.
	 */
	waiting = scx_bpf_dsq_nr_queued(LLC_DSQ(llc));
	if (!waiting && time_before(vtime_now, p->scx.dsq_vtime))
		vtime_now = time_before(p->scx.dsq_vtime, vtime_now + slice_ns) ?
			    p->scx.dsq_vtime : vtime_now + slice_ns;

	tctx = lookup_task_ctx(p);
	if (!tctx)
		return;
	restore_vtime(p, tctx);
	refresh_task_boost(p, tctx);
	tctx->started_at = now;
	tctx->bw_charged_at = now;
	tctx->share = SHARE_ONE;
	if (tctx->last_llc && tctx->last_llc != llc + 1)
		stat_add(MUS_STAT_LLC_MIGRATIONS, 1);
	tctx->last_llc = llc + 1;

	slice = slice_for(llc, waiting + scx_bpf_dsq_nr_queued(CPU_DSQ(cpu)));
	cgrp = scx_bpf_task_cgroup(p);
	if (cgrp) {
		cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);
		if (cgc)
			tctx->share = task_share(p, cgrp, cgc);
		/*
		 * Don't run past the cgroup's quota: the cgroup's other threads
		 * may use it on other CPUs meanwhile, so take a CPU's part of
		 * what is left (each CPU's overshoot then shrinks geometrically).
		 */
		left = subtree_quota_left(cgrp, now, &until);
		if (left != (u64)-1) {
			left /= nr_cpus;
			if (left < slice)
				slice = left > 100 * NSEC_PER_USEC ? left : 100 * NSEC_PER_USEC;
		}
		bpf_cgroup_release(cgrp);
	}
	if (slice < slice_ns)
		stat_add(MUS_STAT_SHORT_SLICES, 1);
	p->scx.slice = slice;

	stat_add(tctx->boost ? MUS_STAT_RUN_BOOSTED : MUS_STAT_RUN_NORMAL, 1);
	cctx = lookup_cpu_ctx(cpu);
	if (cctx) {
		cctx->vtime = p->scx.dsq_vtime ?: 1;
		cctx->started_at = now;
		cctx->share = tctx->share;
		cctx->slice = slice;
		cctx->cgid = tctx->cgid;
		cctx->boost = tctx->boost;
		cctx->kicked = false;
	}
}

void BPF_STRUCT_OPS(mus_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	struct cpu_ctx *cctx;
	struct cgroup *cgrp;
	u64 now = scx_bpf_now();

	/* nothing of ours runs here until the next ops.running */
	cctx = lookup_cpu_ctx(bpf_get_smp_processor_id());
	if (cctx)
		cctx->vtime = 0;

	if (!tctx || !tctx->started_at || time_before(now, tctx->started_at))
		return;

	charge_run(p, tctx, now);
	tctx->stopped_at = now;
	tctx->started_at = 0;

	if (nr_bw_cgroups) {
		cgrp = scx_bpf_task_cgroup(p);
		if (cgrp) {
			charge_quota(tctx, cgrp, now);
			bpf_cgroup_release(cgrp);
		}
	}
}

/*
 * Called on every tick for the running task, only to charge cpu.max quotas
 * as the task runs: a task whose cgroup used up its quota stops now (its
 * slice was shortened to the quota left when it started, but the cgroup's
 * other threads use the same quota meanwhile).
 */
void BPF_STRUCT_OPS(mus_tick, struct task_struct *p)
{
	struct task_ctx *tctx;
	struct cgroup *cgrp;
	u64 until = 0, now;

	if (!nr_bw_cgroups || !(tctx = lookup_task_ctx(p)))
		return;
	cgrp = scx_bpf_task_cgroup(p);
	if (!cgrp)
		return;
	now = scx_bpf_now();
	charge_quota(tctx, cgrp, now);
	if (!subtree_quota_left(cgrp, now, &until))
		p->scx.slice = 0;
	bpf_cgroup_release(cgrp);
}

void BPF_STRUCT_OPS(mus_enable, struct task_struct *p)
{
	p->scx.dsq_vtime = vtime_now;
}

s32 BPF_STRUCT_OPS(mus_init_task, struct task_struct *p,
		   struct scx_init_task_args *args)
{
	/*
	 * Zeroed storage has cgid 0, which no cgroup has (the root's is 1), so
	 * the first switch resolves the boost.
	 */
	if (!bpf_task_storage_get(&task_ctxs, p, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		return -ENOMEM;
	return 0;
}

/* splitmix64's finaliser: spreads every input bit over the output. */
static u64 mix64(u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct scan_acc {
	u64 fingerprint;
	u64 nr_entries;
};

static long scan_entry(struct bpf_map *map, u64 *key,
		       struct mus_cgroup_prio *prio, struct scan_acc *acc)
{
	/* a sum, so the fingerprint doesn't depend on iteration order */
	acc->fingerprint += mix64(mix64(*key) ^
				  ((u64)prio->weight << 32 | prio->flags));
	acc->nr_entries++;
	return 0;
}

/*
 * Fingerprint high_prio_cgroups and bump map_gen (and hweight_gen, so cached
 * shares are recomputed with the new boosts) if it changed. A change that
 * lands between two scans is seen by the next one; writers and the scan race
 * freely, which at worst delays a refresh by one interval.
 */
static int map_scan_fn(void *map, u32 *key, struct map_scan *scan)
{
	struct scan_acc acc = {};

	bpf_for_each_map_elem(&high_prio_cgroups, scan_entry, &acc, 0);
	if (acc.fingerprint != scan->fingerprint ||
	    acc.nr_entries != scan->nr_entries) {
		scan->fingerprint = acc.fingerprint;
		scan->nr_entries = acc.nr_entries;
		__sync_fetch_and_add(&map_gen, 1);
		__sync_fetch_and_add(&hweight_gen, 1);
		stat_add(MUS_STAT_MAP_CHANGES, 1);
	}

	bpf_timer_start(&scan->timer, map_scan_interval_ns, 0);
	return 0;
}

static s32 start_timers(void)
{
	u32 zero = 0;
	struct map_scan *scan = bpf_map_lookup_elem(&map_scan_state, &zero);
	struct bw_timer *bw = bpf_map_lookup_elem(&bw_timer_state, &zero);
	s32 ret;

	if (!scan || !bw)
		return -ENOENT;
	ret = bpf_timer_init(&bw->timer, &bw_timer_state, CLOCK_MONOTONIC);
	if (ret)
		return ret;
	ret = bpf_timer_set_callback(&bw->timer, bw_timer_fn);
	if (ret)
		return ret;
	ret = bpf_timer_init(&scan->timer, &map_scan_state, CLOCK_MONOTONIC);
	if (ret)
		return ret;
	ret = bpf_timer_set_callback(&scan->timer, map_scan_fn);
	if (ret)
		return ret;
	/* The first scan runs at once: a map carried over from a crashed runner
	 * is then honoured without waiting an interval. */
	return bpf_timer_start(&scan->timer, 0, 0);
}

/* Sets @cgc's cpu.max; a quota of U64_MAX (the kernel's "max") is no limit. */
static void set_bandwidth(struct cgrp_ctx *cgc, u64 period_us, u64 quota_us)
{
	bool had = cgc->quota_ns;
	bool has = quota_us && quota_us != (u64)-1 && period_us;

	cgc->period_ns = period_us * NSEC_PER_USEC;
	cgc->quota_ns = has ? quota_us * NSEC_PER_USEC : 0;
	if (has && !had)
		__sync_fetch_and_add(&nr_bw_cgroups, 1);
	else if (!has && had)
		__sync_fetch_and_sub(&nr_bw_cgroups, 1);
}

s32 BPF_STRUCT_OPS(mus_cgroup_init, struct cgroup *cgrp,
		   struct scx_cgroup_init_args *args)
{
	struct cgrp_ctx *cgc;

	cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0,
				   BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!cgc)
		return -ENOMEM;
	cgc->weight = args->weight ?: CGROUP_WEIGHT_DFL;
	if (bpf_core_field_exists(args->sched_idle))
		cgc->idle = args->sched_idle;
	if (bpf_core_field_exists(args->bw_quota_us))
		set_bandwidth(cgc, args->bw_period_us, args->bw_quota_us);
	cgc->weight_in_parent = cgrp_weight_in_parent(cgc);
	/* boost_gen 0 is older than any map_gen: resolved on first use */
	return 0;
}

/*
 * A cgroup goes away only once it has no tasks and no children, so it should
 * contribute nothing; if a race left a contribution, take it back so that
 * the parent's sum does not keep a ghost.
 */
void BPF_STRUCT_OPS(mus_cgroup_exit, struct cgroup *cgrp)
{
	struct cgrp_ctx *cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);

	if (!cgc)
		return;
	if (cgc->quota_ns)
		set_bandwidth(cgc, 0, 0);
	cgc->nr_tasks = 0;
	cgc->nr_active_children = 0;
	if (cgc->contributed)
		propagate(cgrp);
}

/* Weight (or idleness, or boost) of @cgrp changed: update its parent's sum. */
static void reweight(struct cgroup *cgrp, struct cgrp_ctx *cgc)
{
	cgc->weight_in_parent = cgrp_weight_in_parent(cgc);
	propagate(cgrp);
}

void BPF_STRUCT_OPS(mus_cgroup_set_weight, struct cgroup *cgrp, u32 weight)
{
	struct cgrp_ctx *cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);

	if (!cgc)
		return;
	cgc->weight = weight ?: CGROUP_WEIGHT_DFL;
	reweight(cgrp, cgc);
}

void BPF_STRUCT_OPS(mus_cgroup_set_idle, struct cgroup *cgrp, bool idle)
{
	struct cgrp_ctx *cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);

	if (!cgc)
		return;
	cgc->idle = idle;
	reweight(cgrp, cgc);
}

void BPF_STRUCT_OPS(mus_cgroup_set_bandwidth, struct cgroup *cgrp,
		    u64 period_us, u64 quota_us, u64 burst_us)
{
	struct cgrp_ctx *cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);

	if (cgc)
		set_bandwidth(cgc, period_us, quota_us);
}

/*
 * Exit dump (printed by the kernel when mus is ejected, and by the runner):
 * queue depths, the node's progress, and per CPU its own queue's depth and
 * the current task's cgroup, boost and share.
 */
void BPF_STRUCT_OPS(mus_dump, struct scx_dump_ctx *dctx)
{
	u32 i;

	scx_bpf_dump("mus: caches=%u throttled=%d rescue=%d vtime_now=%llu hweight_gen=%llu map_gen=%llu bw_cgroups=%llu",
		     nr_llcs, scx_bpf_dsq_nr_queued(THROTTLED_DSQ),
		     scx_bpf_dsq_nr_queued(RESCUE_DSQ), vtime_now,
		     hweight_gen, map_gen, nr_bw_cgroups);
	bpf_for(i, 0, nr_llcs)
		scx_bpf_dump("mus cache%u: queued=%d", i,
			     scx_bpf_dsq_nr_queued(LLC_DSQ(i)));
}

void BPF_STRUCT_OPS(mus_dump_cpu, struct scx_dump_ctx *dctx, s32 cpu, bool idle)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(cpu);

	if (!cctx || idle)
		return;
	scx_bpf_dump("mus cpu%d: cache=%u queued=%d cgroup=%llu boost=%u share=%llu/%llu vtime=%llu",
		     cpu, llc_of(cpu), scx_bpf_dsq_nr_queued(CPU_DSQ(cpu)),
		     cctx->cgid, cctx->boost, cctx->share, SHARE_ONE,
		     cctx->vtime);
}

/* Builds cache @llc's cpumask for pick_idle_near(). */
static s32 build_llc_mask(u32 llc)
{
	struct bpf_cpumask *mask;
	struct llc_mask *m;
	u32 cpu;

	m = bpf_map_lookup_elem(&llc_masks, &llc);
	if (!m)
		return -ENOENT;
	mask = bpf_cpumask_create();
	if (!mask)
		return -ENOMEM;
	bpf_for(cpu, 0, nr_cpus) {
		if (llc_of(cpu) == llc)
			bpf_cpumask_set_cpu(cpu, mask);
	}
	mask = bpf_kptr_xchg(&m->cpus, mask);
	if (mask)
		bpf_cpumask_release(mask);
	return 0;
}

/*
 * The NUMA node of @cpu, where the queues its CPUs serve are allocated (each
 * queue's lock and head are written by its own CPUs on every dispatch); -1
 * (any node) before 6.15, whose kernels lack scx_bpf_cpu_node().
 */
static s32 node_of(s32 cpu)
{
	return bpf_ksym_exists(scx_bpf_cpu_node) ? scx_bpf_cpu_node(cpu) : -1;
}

s32 BPF_STRUCT_OPS_SLEEPABLE(mus_init)
{
	s32 ret;
	u32 i;

	bpf_for(i, 0, nr_llcs) {
		/* a cache's CPUs are on one node: the first one's */
		ret = scx_bpf_create_dsq(LLC_DSQ(i),
					 node_of(llc_cpus[llc_first[i & (MUS_MAX_LLCS - 1)] &
							  (MUS_MAX_CPUS - 1)]));
		if (ret)
			return ret;
		ret = build_llc_mask(i);
		if (ret)
			return ret;
	}
	bpf_for(i, 0, nr_cpus) {
		ret = scx_bpf_create_dsq(CPU_DSQ(i), node_of(i));
		if (ret)
			return ret;
	}
	ret = scx_bpf_create_dsq(THROTTLED_DSQ, -1);
	if (ret)
		return ret;
	return start_timers();
}

void BPF_STRUCT_OPS(mus_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(uei, ei);
}

SCX_OPS_DEFINE(mus_ops,
	       .select_cpu		= (void *)mus_select_cpu,
	       .enqueue			= (void *)mus_enqueue,
	       .dispatch		= (void *)mus_dispatch,
	       .runnable		= (void *)mus_runnable,
	       .running			= (void *)mus_running,
	       .stopping		= (void *)mus_stopping,
	       .quiescent		= (void *)mus_quiescent,
	       .tick			= (void *)mus_tick,
	       .set_weight		= (void *)mus_set_weight,
	       .enable			= (void *)mus_enable,
	       .init_task		= (void *)mus_init_task,
	       .cgroup_init		= (void *)mus_cgroup_init,
	       .cgroup_exit		= (void *)mus_cgroup_exit,
	       .cgroup_set_weight	= (void *)mus_cgroup_set_weight,
	       .cgroup_set_idle		= (void *)mus_cgroup_set_idle,
	       .cgroup_set_bandwidth	= (void *)mus_cgroup_set_bandwidth,
	       .dump			= (void *)mus_dump,
	       .dump_cpu		= (void *)mus_dump_cpu,
	       .init			= (void *)mus_init,
	       .exit			= (void *)mus_exit,
	       .flags			= SCX_OPS_ENQ_LAST,
	       .timeout_ms		= WATCHDOG_TIMEOUT_MS,
	       .name			= "mus");
