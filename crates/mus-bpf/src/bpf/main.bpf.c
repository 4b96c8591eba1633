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
 * 3. Every task wakes up promptly, by one order. A task that slept comes
 *    back with bounded credit, and a task that stays runnable is owed at
 *    most MAX_LAG_SLICES of its slices (one lag clamp, clamp_lag()), so
 *    nothing banks CPU it could not use and a share that drops (a boost
 *    taken back, a sibling started) takes effect at once. One rule
 *    (lead_of()) then decides whether a task that wants a CPU goes before
 *    the task in its way, for each of the three decisions that weigh two
 *    tasks: which CPU a waker preempts, whether a CPU's task keeps it at a
 *    slice's end or when kicked, and where a boosted waker waits in its
 *    queue. It goes first when its vtime is before the other's deadline (as
 *    in EEVDF: the vtime at which that task's slice, charged at its share,
 *    ends). A boost bends this by a bounded amount each way: a task boosted
 *    more goes first while at most its wake credit (an ordinary task's
 *    times its boost) past that deadline, and a boosted task that serves a
 *    burst (up to slice_ns after it woke) keeps its CPU against a task
 *    boosted less. It is charged from its own vtime throughout, so shares
 *    hold to within that credit. As the decisions share one rule, a kicked
 *    CPU takes the waker it was kicked for. The one exception is message
 *    passing: against a sync wake-up the task on the waker's CPU keeps
 *    sync_grace_ns first (a task confined to one CPU, for which the kernel
 *    skips ops.select_cpu and so never says a wake-up is sync, counts one
 *    as sync when its waker is of its own cgroup: confined_sync()).
 *    Slices shrink as waiters grow.
 * 4. Nothing is starved and the watchdog never fires: a task queued for a
 *    quarter of the watchdog timeout runs next in its queue, out of vtime
 *    order, for a short slice, at a bounded rate (RESCUE_AFTER_NS).
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
 * propagate upwards (one short critical section per level, under the
 * parent's spin lock, stopping at the first ancestor whose activity did not
 * change),
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
 * (or where ops.select_cpu placed it: the kernel's idle search, not told of
 * sync wake-ups, tries the previous CPU, then its cache, then anywhere), so
 * a CPU serves its own cache first and no lock or queue cache line is shared
 * between caches on an ordinary dispatch. vtime
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
 * slices shrinking with that cache's waiters, wake-up preemption, and the
 * progress waking tasks are placed against (llc_progress, on its own cache
 * line). Node-wide: shares (one hweight per cgroup, of the whole machine; a
 * cache whose tasks fall behind by STEAL_SLICES is stolen from, so no
 * cgroup's tasks lag those of another cache by more than that: a few slices'
 * error in seconds of contention), cpu.max (a runtime balance per cgroup,
 * charged from every CPU) and the starvation rescue (which scans every
 * queue). Two tasks in different caches are not compared on every decision,
 * only through their queues' heads; that is the price of not bouncing one
 * lock or progress line across sockets, and scx_bpfland and scx_lavd pay it
 * too.
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
 * runnable/quiescent, set_weight, cgroup_move, cgroup kptrs in task
 * storage, DSQ iterators.
 * 6.17: cgroup_set_bandwidth and bw_* init args (cpu.max; without them the
 * runner logs that limits are not enforced). 6.19: cgroup_set_idle and the
 * sched_idle init arg (without them cpu.idle is not seen). scx_bpf_dsq_peek
 * (7.1 for a reliable one; scx's compat helper falls back to an iterator).
 * 6.15: scx_bpf_cpu_node (each queue allocated on its CPUs' NUMA node;
 * before, on any node). 6.19: scx_bpf_task_set_slice/dsq_vtime (scx's
 * compat helpers write the fields directly before). The cgroup callbacks
 * need CONFIG_EXT_GROUP_SCHED, which the runner checks.
 * libbpf drops the callbacks a kernel lacks (scx_utils' load-time fix-ups).
 *
 * Cost of the hot callbacks (D = cgroup depth, 4-5 under kubelet; L = number
 * of last-level caches; nothing is O(CPUs))
 * ----------------------------------------------------------------
 * No hot callback looks a cgroup up: the task's governing cgroup is cached,
 * referenced, in its context (set at ops.init_task and ops.cgroup_move), so
 * reaching its state is one cgroup storage lookup.
 * select_cpu: the kernel's idle-CPU search (topology-aware), one task storage
 *   lookup; a placement, O(1).
 * enqueue: O(1): an idle-CPU pick (the task's CPU, then the cache's mask,
 *   then anywhere; the task's CPU only when it may run nowhere else), else a
 *   victim check of at most three CPUs of the cache (the task's, alone when
 *   the wake-up is handled on it and its task is ahead; else also two random
 *   ones), an insert into the cache's queue (a boosted waker's also peeks at
 *   the queue's head and looks up its storage; into the local queue when
 *   the idle CPU or the victim is the task's own, or when a task confined to
 *   the busy CPU handling its wake-up may run next there: a per-CPU kthread,
 *   or any task once three queue lengths say nothing waits) and a kick; O(D) for a
 *   task in a limited subtree (cpu.max on its path), O(1) otherwise.
 * runnable/quiescent: one storage lookup, two atomics; O(D) lock sections
 *   (each under the parent's lock) only when a cgroup's activity changes.
 * running: O(1) with a cached share, O(D) after the tree changed (and O(D)
 *   in a limited subtree). stopping: O(1); O(D) in a limited subtree. tick:
 *   nothing without cpu.max; one O(D) walk (charge and check) in a limited
 *   subtree, a cached flag outside one.
 * dispatch: O(1) on a busy CPU (peeks at its two queues and at most three
 *   other caches' heads, then one move; one more task storage lookup, the
 *   head's, when a slice ends behind it); O(L) peeks on a CPU that would
 *   otherwise go idle; one load for the throttled tasks, O(throttled) only
 *   when a release is due; at a
 *   slice's end where prev stays, one cgroup storage lookup (its share is
 *   brought up to date); the starvation scan, at most ten times a second on
 *   one CPU, is O(L + CPUs + queued).
 * Run-queue wait histograms (waits.bpf.c, on unless --no-wait-histograms):
 *   running adds a per-CPU hash lookup (a fifth of its time); stopping of a
 *   task that stays runnable a storage lookup; all O(1), no atomics.
 * As measured (cargo xtask bench cost, bench-20261206T024502Z: hackbench
 * in a TCG guest, 2 vCPUs, kernel 7.3.4, BPF run time per call from
 * bpf_stats; TCG inflates every figure several times (an empty running
 * took 0.9 us a call in the request/response case) and cannot show
 * cache-line or lock contention, so read them against each other):
 * running 5.1 us, stopping 2.8, enqueue 6.2, select_cpu 2.7, dispatch
 * 14.8; all callbacks 32 us per context switch, 1.38x scx_bpfland's and
 * 0.90x scx_layered's in the same rounds; running 3.20x scx_bpfland's
 * (evaluation/journal/hotpath.md).
 */
#include "mus.bpf.h"

char _license[] SEC("license") = "GPL";

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
 * Whether each cgroup's run-queue waits are measured (waits.bpf.c;
 * mus-runner --no-wait-histograms turns it off, to measure what it costs).
 */
const volatile bool wait_histograms = true;

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

/*
 * The watchdog timeout mus-runner asked the kernel for (ops.timeout_ms), in
 * ns: the starvation rescue acts at fractions of it (RESCUE_AFTER_NS). The
 * runner refuses a timeout below 1 s.
 */
const volatile u64 watchdog_timeout_ns = WATCHDOG_TIMEOUT_MS * NSEC_PER_MSEC;

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

/* Counters indexed by enum mus_stat_idx, summed over CPUs by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MUS_NR_STATS);
	__type(key, u32);
	__type(value, u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

__hidden void stat_add(u32 idx, u64 delta)
{
	u64 *cnt = bpf_map_lookup_elem(&stats, &idx);

	/* per-CPU slot, and sched_ext callbacks don't preempt each other */
	if (cnt)
		*cnt += delta;
}

/*
 * @cpu's context. The local CPU's through this_cpu_ctx()'s inlined lookup:
 * a wake-up's victim is often the CPU handling it (a pair confined to one
 * CPU, a timer on the CPU its task slept on), and the helper call is most of
 * a lookup's cost. bpf_get_smp_processor_id() is inlined too (6.10 on x86).
 */
__hidden struct cpu_ctx *lookup_cpu_ctx(s32 cpu)
{
	u32 zero = 0;

	if (cpu == bpf_get_smp_processor_id())
		return bpf_map_lookup_elem(&cpu_ctxs, &zero);
	return bpf_map_lookup_percpu_elem(&cpu_ctxs, &zero, cpu);
}

/*
 * The context of the CPU this runs on, for callers that know it is the local
 * one (lookup_cpu_ctx() compares first). From 6.10 on the verifier inlines
 * bpf_map_lookup_elem() on a per-CPU array into a few instructions, where
 * bpf_map_lookup_percpu_elem() stays a helper call (ops.stopping took 14 %
 * less time per switch, evaluation/journal/hotpath.md).
 */
__hidden struct cpu_ctx *this_cpu_ctx(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_ctxs, &zero);
}

/* @p's context, or NULL (no error: callers on racy paths tolerate it). */
__hidden struct task_ctx *task_ctx_of(struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctxs, p, 0, 0);
}

__hidden struct task_ctx *lookup_task_ctx(struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

	if (!tctx)
		scx_bpf_error("task_ctx lookup failed for pid %d", p->pid);
	return tctx;
}

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgrp_ctx);
} cgrp_ctxs SEC(".maps");

/* @cgrp's context, or NULL (no error: callers on racy paths tolerate it). */
__hidden struct cgrp_ctx *cgrp_ctx_of(struct cgroup *cgrp)
{
	return bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);
}

__hidden struct cgrp_ctx *lookup_cgrp_ctx(struct cgroup *cgrp)
{
	struct cgrp_ctx *cgc = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);

	if (!cgc)
		scx_bpf_error("cgrp_ctx lookup failed for cgroup %llu", cgrp->kn->id);
	return cgc;
}

/* The context of @cgrp's ancestor at @level (@cgrp itself at its own level). */
__hidden struct cgrp_ctx *ancestor_ctx(struct cgroup *cgrp, int level)
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

/* @cgrp's context, made if it has none yet (ops.cgroup_init). */
__hidden struct cgrp_ctx *cgrp_ctx_create(struct cgroup *cgrp)
{
	return bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/*
 * Caches @cgrp (referenced, or NULL) as @tctx's governing cgroup, dropping
 * the reference to the one cached before.
 */
__hidden void set_task_cgrp(struct task_ctx *tctx, struct cgroup *cgrp)
{
	struct cgroup *old;

	/* the verifier takes a possibly-NULL reference only as a literal NULL */
	if (cgrp)
		old = bpf_kptr_xchg(&tctx->cgrp, cgrp);
	else
		old = bpf_kptr_xchg(&tctx->cgrp, NULL);
	if (old)
		bpf_cgroup_release(old);
}

s32 BPF_STRUCT_OPS(mus_init_task, struct task_struct *p,
		   struct scx_init_task_args *args)
{
	struct task_ctx *tctx;

	/*
	 * Zeroed storage has cgid 0, which no cgroup has (the root's is 1), so
	 * the first switch resolves the boost.
	 */
	tctx = bpf_task_storage_get(&task_ctxs, p, 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tctx)
		return -ENOMEM;
	/*
	 * The cgroup it joins, by ID: args->cgroup is not a pointer the
	 * verifier lets us take a reference on. Once per task, at fork.
	 */
	set_task_cgrp(tctx, bpf_cgroup_from_id(args->cgroup->kn->id));
	return 0;
}


/*
 * The files by concern (mus.bpf.h lists them), compiled with this one as a
 * single translation unit, so that clang inlines the small helpers they offer
 * each other (the task's and the CPU's context, the statistics, a slice, a
 * charge). Compiled apart and linked, every one of them was a BPF-to-BPF call:
 * in a request/response pair confined to one CPU, running took 0.80x the time
 * per call and all callbacks 0.91x per request compiled as one
 * (evaluation/journal/hotpath.md, "One translation unit").
 */
#include "init.bpf.c"
#include "cgroup.bpf.c"
#include "cpumax.bpf.c"
#include "queues.bpf.c"
#include "vtime.bpf.c"
#include "wakeup.bpf.c"
#include "dispatch.bpf.c"
#include "waits.bpf.c"

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
	       .cgroup_move		= (void *)mus_cgroup_move,
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
