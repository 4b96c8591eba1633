/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What mus's BPF files share: the queues' IDs, the constants, the tunables
 * (defined in main.bpf.c, which documents each), the per-task, per-CPU and
 * per-cgroup state, and the functions one file offers the others (__hidden,
 * declared here so that the files may call each other in any order).
 * main.bpf.c includes the other files: they are one translation unit, so
 * clang inlines what is small (main.bpf.c says what that saved) and the
 * verifier checks the rest in their callers' context.
 *
 * A few functions are global instead (lead_over(), throttle_heads(),
 * release_throttled(), rescue_from(): scalar arguments only, and a scalar
 * result, which 6.12's verifier requires), so that the verifier checks
 * each once rather than at every call site; the committed
 * verifier baseline (crates/mus-bpf/verifier-baseline/) shows the cost.
 *
 * The files, by concern:
 *   main.bpf.c      the design, the tunables, the task, CPU and cgroup state,
 *                   the ops table (it calls into no other file, and includes
 *                   them all)
 *   init.bpf.c      ops.init, ops.exit and the exit dump
 *   cgroup.bpf.c    the cgroup tree, shares, boosts and the map scan
 *   cpumax.bpf.c    cpu.max: quotas, throttling and release
 *   queues.bpf.c    topology, the queues, idle CPUs, stealing, the rescue
 *   vtime.bpf.c     vtime accounting: charging, placing, lag
 *   wakeup.bpf.c    select_cpu, enqueue, wake-up preemption
 *   dispatch.bpf.c  dispatch, keeping prev, running, stopping
 *   waits.bpf.c     run-queue waits per cgroup, by whose doing they are
 */
#ifndef __MUS_BPF_H
#define __MUS_BPF_H

#include <scx/common.bpf.h>
#include "intf.h"

/*
 * The queues. Each last-level cache has one, ordered by vtime, that its CPUs
 * share; each CPU has one for the tasks that may run on that CPU alone
 * (per-CPU kthreads, pinned tasks), so that they never sit in a shared queue
 * the other CPUs have to skip over.
 */
#define LLC_DSQ(llc)		((u64)(llc))
#define CPU_DSQ(cpu)		((u64)MUS_MAX_LLCS + (cpu))
/* Tasks whose cgroup (or an ancestor) has no cpu.max runtime left. */
#define THROTTLED_DSQ		((u64)MUS_MAX_LLCS + MUS_MAX_CPUS)

#ifndef S64_MAX
#define S64_MAX			((s64)(~0ULL >> 1))
#endif

#define NSEC_PER_USEC		1000ULL
#define NSEC_PER_MSEC		1000000ULL

/*
 * A task that stays runnable this long without getting a CPU makes the kernel
 * eject the scheduler. The default; mus-runner --watchdog-timeout-ms sets it
 * (and watchdog_timeout_ns, from which the starvation rescue's times follow).
 */
#define WATCHDOG_TIMEOUT_MS	5000

/*
 * Weighted fairness alone does not bound how long a task waits: a task of a
 * tiny share (one of many threads in a cpu.idle or BestEffort cgroup next to
 * busy ones) is charged so much for one slice that its next turn can be
 * seconds away. The starvation rescue (queues.bpf.c) puts a task queued for
 * a quarter of the watchdog timeout at the head of its own queue, for a
 * short slice, at most RESCUES_PER_CPU per CPU of that queue per scan (a
 * scan every eighth of that, at most every 100 ms), from the queue's tail
 * (the largest vtimes, where tiny shares wait; not the oldest waits, which
 * a try did not improve: evaluation/journal/stalls.md); a task
 * that has waited 3/8 of the timeout by the watchdog's clock
 * (waiting_since()) is rescued whatever that bound (MUS_STAT_LATE_RESCUES
 * counts those). So no task waits half the timeout, and each starving task
 * gets at most one short run (slice_min_ns, ending on the next tick) per
 * quarter timeout beyond its share, charged to its own vtime like any run.
 * Time held back by its own cgroup's cpu.max is not starvation: the queued
 * time starts again at the release; a requeue to change a queued task is
 * no new wait (mus_enqueue()).
 * Why 3/8 and not half: the kernel's watchdog is itself a task mus
 * schedules. 6.12's is a delayed work item on an unbound workqueue that
 * stamps its check-in when it runs and queues itself half a timeout later;
 * the tick ejects the scheduler when the stamp is a timeout old. So its
 * kworker must run within half the timeout of waking, and a hard bound of
 * half, plus a scan, a slice and a tick, would be late by design for a
 * kworker that relied on it (evaluation/journal/stalls.md).
 */
#define RESCUE_AFTER_NS		(watchdog_timeout_ns / 4)
#define RESCUE_ALWAYS_NS	(watchdog_timeout_ns * 3 / 8)
#define RESCUE_SCAN_NS		(RESCUE_AFTER_NS / 8 < 100 * NSEC_PER_MSEC ? \
				 RESCUE_AFTER_NS / 8 : 100 * NSEC_PER_MSEC)
#define RESCUES_PER_CPU		1

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

/* What the scheduler remembers about each task. */
struct task_ctx {
	/* cgroup v2 membership and map generation the boost was resolved at */
	u64 cgid;
	u64 map_gen;
	/* weight of the nearest map entry over the cgroup ancestry; 0: none */
	u32 boost;
	/*
	 * The governing cgroup (the cpu controller's: where its share and
	 * cpu.max come from), referenced, set at ops.init_task and
	 * ops.cgroup_move, so that the hot callbacks read it rather than look
	 * it up (scx_bpf_task_cgroup() takes and drops a reference per call).
	 * Read as an RCU pointer, valid for the callback that reads it
	 * (non-sleepable callbacks run under RCU); NULL if it could not be had.
	 * Tolerated race: none on the task's own callbacks (the kernel dequeues
	 * a task, ops.quiescent, before moving it and requeues it after, so
	 * runnable/running/stopping/quiescent never straddle a move); another
	 * CPU reading a queued task's (dispatch's throttle checks) may see the
	 * old cgroup for one decision while the move is under way.
	 */
	struct cgroup __kptr *cgrp;
	/* counted in cgrp's runnable tasks, with this nice weight */
	bool counted;
	u32 counted_weight;
	/* when the task last got a CPU, to charge what it used */
	u64 started_at;
	/* its share when it started, in SHARE_ONE units */
	u64 share;
	/*
	 * when it was last queued after it ran (a requeue keeps it), or
	 * released from THROTTLED_DSQ (0 while moved there from a queue, and
	 * when it joins mus): the start of the wait the rescue's
	 * RESCUE_AFTER_NS bounds (its cgroup's own quota is not a neighbour
	 * starving it)
	 */
	u64 enqueued_at;
	/* rescued: its next run gets slice_min_ns (see RESCUE_AFTER_NS) */
	bool rescued;
	/*
	 * Found in a system call while over cpu.max: its CPU time
	 * (se.sum_exec_runtime) by which it must have left it, or 0
	 * (may_hold_back())
	 */
	u64 bw_grace_end;
	/*
	 * When it last woke up: the start of its burst (burst_end()) and of
	 * its wait (waiting_since()). waiting: it has neither slept nor left
	 * mus (mus_enable()) since, so the next ops.runnable is a requeue to
	 * change it (renice, cgroup move, affinity), which restarts neither, as
	 * it does not restart the kernel watchdog's runnable_at. When it did, a
	 * crowd reniced every 100 ms never looked starved to the rescue, and
	 * the watchdog ejected mus.
	 */
	u64 runnable_at;
	bool waiting;
	/* held in THROTTLED_DSQ at least until this time (cpu.max runtime is due) */
	u64 throttled_until;
	/*
	 * its CPU time (se.sum_exec_runtime) up to which cpu.max quotas are
	 * charged; 0 until it first runs under mus
	 */
	u64 bw_charged_exec;
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
	/*
	 * The run-queue wait in progress (waits.bpf.c): since when (0: none),
	 * whose doing (enum mus_wait_class), how long it was throttled so far
	 * and since when it is throttled now (0: it is not).
	 */
	u64 wait_from;
	u64 wait_throttled_ns;
	u64 throttled_at;
	u32 wait_class;
};

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
	/*
	 * until when the current task, boosted, is in the middle of a burst
	 * and keeps its CPU against wakers boosted less (burst_end(),
	 * lead_of()); 0: not
	 */
	u64 keeps_until;
	/* the current task's cgroup and boost (the exit dump, lead_over()) */
	u64 cgid;
	u32 boost;
	/* a waker already kicked this CPU; cleared when the next task runs */
	bool kicked;
};

/*
 * What the scheduler remembers about each cgroup of the cpu controller.
 * Fields marked [lock] change only under this cgroup's lock, [parent lock]
 * under its parent's: the lock serialises changes of its children's
 * contributions, so that cgroups under different parents (the pods of two
 * QoS classes, say) activate without sharing a lock or its cache line.
 * [atomic] fields change with __sync operations from any CPU.
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
	/* [parent lock] what it adds now: weight_in_parent when active, else 0 */
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
	/* cpu.max: quota per period (0: unlimited), see cpumax.bpf.c */
	u64 quota_ns;
	u64 period_ns;
	/* [atomic] runtime left (< 0: debt), and when the next period starts */
	s64 bw_runtime;
	u64 bw_refill_at;
	/* whether it or an ancestor has a limit, valid at bw_gen bw_path_gen */
	u64 bw_path_gen;
	bool bw_path_limited;
	/*
	 * Last, so that the fields above keep the cache lines they had under
	 * the node-wide lock: put after contributed, it shifted the [atomic]
	 * counts onto the lines ops.running reads, and running took 10-15 %
	 * longer (paired medians) with the load under cpu.max in two boots;
	 * here it did not (evaluation/journal/hotpath.md, round three).
	 */
	struct bpf_spin_lock lock;
};


/* Tunables (main.bpf.c), written by mus-runner into .rodata before load. */
extern const volatile u64 slice_ns;
extern const volatile u64 slice_min_ns;
extern const volatile u64 sync_grace_ns;
extern const volatile bool preempt_enabled;
extern const volatile bool wait_histograms;
extern const volatile u32 default_high_weight;
extern const volatile u64 map_scan_interval_ns;
extern const volatile u64 max_debt_ns;
extern const volatile u64 watchdog_timeout_ns;
extern const volatile u32 nr_cpus;
extern const volatile u32 nr_llcs;
extern const volatile u32 cpu_llc[MUS_MAX_CPUS];
extern const volatile u32 llc_cpus[MUS_MAX_CPUS];
extern const volatile u32 llc_first[MUS_MAX_LLCS];
extern const volatile u32 llc_size[MUS_MAX_LLCS];

/* A cache's progress (queues.bpf.c), alone on its cache line. */
struct llc_progress {
	u64 vtime;
} __attribute__((aligned(64)));

/* State written by hot callbacks, defined where it is explained. */
extern struct llc_progress llc_progress[MUS_MAX_LLCS];	/* queues.bpf.c */
extern u64 hweight_gen;		/* cgroup.bpf.c */
extern u64 map_gen;		/* cgroup.bpf.c */
extern u64 nr_bw_cgroups;	/* cpumax.bpf.c */
extern u64 bw_release_at;	/* cpumax.bpf.c */
extern u64 last_starvation_scan;	/* queues.bpf.c */

/*
 * The topology tables are indexed through these helpers only. MUS_MAX_CPUS
 * and MUS_MAX_LLCS are powers of two, and masking (rather than comparing) is
 * what lets the verifier see every index in bounds after the compiler has
 * spilled and reloaded it; the runner never writes an out-of-range value.
 */
_Static_assert(!(MUS_MAX_CPUS & (MUS_MAX_CPUS - 1)), "MUS_MAX_CPUS: a power of two");
_Static_assert(!(MUS_MAX_LLCS & (MUS_MAX_LLCS - 1)), "MUS_MAX_LLCS: a power of two");

/* The last-level cache @cpu belongs to. */
static __always_inline u32 llc_of(s32 cpu)
{
	return cpu_llc[(u32)cpu & (MUS_MAX_CPUS - 1)] & (MUS_MAX_LLCS - 1);
}

/* Cache @llc's progress (struct llc_progress). */
static __always_inline u64 *progress_of(u32 llc)
{
	return &llc_progress[llc & (MUS_MAX_LLCS - 1)].vtime;
}

/* How many CPUs cache @llc has (never 0). */
static __always_inline u32 llc_nr_cpus(u32 llc)
{
	u32 n = llc_size[llc & (MUS_MAX_LLCS - 1)];

	return n ?: (nr_cpus ?: 1);
}

/* CPU number @idx (modulo its size) of cache @llc; -1: the runner gave none */
static __always_inline s32 llc_cpu(u32 llc, u32 idx)
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
static __always_inline u64 task_dsq(const struct task_struct *p, s32 cpu)
{
	if (p->nr_cpus_allowed == 1)
		return CPU_DSQ(cpu);
	return LLC_DSQ(llc_of(cpu));
}

#ifndef SIGKILL
#define SIGKILL			9
#endif

/*
 * Whether @p is exiting or has been sent SIGKILL (cgroup.kill, the OOM
 * killer, a pod's deletion): it must run to die and free what it holds, so it
 * is never held back (the kernel likewise lets a throttled task run until it
 * returns to user space, which a dying one never does).
 */
static __always_inline bool dying(const struct task_struct *p)
{
	return (p->flags & PF_EXITING) ||
	       (p->pending.signal.sig[0] & (1UL << (SIGKILL - 1)));
}

/*
 * Whether @p may be inside a system call: its last entry into the kernel from
 * user space was one (x86's orig_ax and arm64's syscallno hold the call's
 * number; an interrupt or an exception stores -1 there). A task held back
 * there may hold a lock others wait for: hogs writing themselves into a
 * limited cgroup's cgroup.procs, each throttled on its way out of the write
 * with cgroup_mutex and the rwsem every fork takes, held up every fork on the
 * node for 10-20 s under mus (0.13-0.45 s under stock;
 * evaluation/experiments/limits_stall.sh). The fair class throttles only on
 * the return to user space since 6.18 for the same reason. A BPF scheduler
 * cannot act on that return, so mus lets such a task run on (may_hold_back())
 * and holds it back at a later stop from user space: a tick or a kick
 * interrupts it there (-1). Not covered: a lock taken in a page fault
 * (mmap_lock), which is held under the exception's -1, and other
 * architectures, where nothing changes. Kernel threads have no user space
 * and are judged as before. Cost: a helper call and a load, only for a task
 * whose cgroup is out of runtime.
 */
static __always_inline bool in_syscall(struct task_struct *p)
{
#if defined(__TARGET_ARCH_x86) || defined(__TARGET_ARCH_arm64)
	struct pt_regs *regs;

	if (p->flags & PF_KTHREAD)
		return false;
	regs = (struct pt_regs *)bpf_task_pt_regs(p);
#if defined(__TARGET_ARCH_x86)
	return (long)regs->orig_ax >= 0;
#else
	return regs->syscallno >= 0;
#endif
#else
	return false;
#endif
}

/*
 * Since when @tctx's task has waited by the kernel watchdog's clock: it last
 * stopped running or woke up, whichever is later (held back by cpu.max and
 * queued alike; a requeue to change it does not count: runnable_at). The
 * starvation rescue's bound, RESCUE_ALWAYS_NS, is on this wait.
 */
static __always_inline u64 waiting_since(const struct task_ctx *tctx)
{
	return time_before(tctx->stopped_at, tctx->runnable_at) ?
	       tctx->runnable_at : tctx->stopped_at;
}

/*
 * Whether cpu.max may hold @p (its context @tctx) back now: not while it is
 * dying, nor while it may be in a system call (in_syscall()) until it has
 * run slice_ns more to leave it. The grace bounds what a task that lives in
 * system calls (dd from /dev/zero) takes beyond its limit: a slice and a tick
 * per hold-back, charged as debt. With none, only a tick landing in user
 * space would stop it. It is CPU time, not time or runs: a writer of
 * cgroup.procs sleeps for an RCU grace period with cgroup_mutex held, and a
 * grace of one run was spent before it woke (32 hogs took 1.7-2.5 s to move
 * in; 0.2-2.8 s with 1 ms of CPU; 0.26-0.40 s with a slice, stock's
 * 0.20-0.23 in that boot, and 4 dd under 0.1 CPU held 0.93-0.98x their
 * quota: evaluation/journal/limits.md).
 * The grace starts at the first check that finds @p over its quota in a
 * system call and ends when @p is held back or starts a run within its quota
 * (bw_grace_end); a rescued run is one with no grace (mus_running()). Its
 * cost: many threads that live in system calls (32 dd under 0.1 CPU) are
 * held to their quota in bursts, a grace each at every release: 0.97-1.11x
 * over 20 s windows, up to 1.47x over 5 s (stock 1.00x, and 1.02-1.05x
 * before the rule, which stalled forks). A grace that a release does not
 * renew (one per system call, as near as mus can see) took that to
 * 0.95-1.01x, but a writer of cgroup.procs that needed more than one slice
 * of CPU in its call was then held back with cgroup_mutex held release after
 * release: 32 hogs took 3.55 s to move in, in CI. So it was taken back.
 */
static __always_inline bool may_hold_back(struct task_struct *p,
					  struct task_ctx *tctx)
{
	u64 ran = p->se.sum_exec_runtime;

	if (dying(p))
		return false;
	if (!in_syscall(p))
		return true;
	if (!tctx->bw_grace_end) {
		tctx->bw_grace_end = ran + slice_ns ?: 1;
		return false;
	}
	return ran >= tctx->bw_grace_end;
}

/* main.bpf.c */
__hidden void stat_add(u32 idx, u64 delta);
__hidden struct cpu_ctx *lookup_cpu_ctx(s32 cpu);
__hidden struct cpu_ctx *this_cpu_ctx(void);
__hidden struct task_ctx *task_ctx_of(struct task_struct *p);
__hidden struct task_ctx *lookup_task_ctx(struct task_struct *p);
__hidden struct cgrp_ctx *cgrp_ctx_of(struct cgroup *cgrp);
__hidden struct cgrp_ctx *cgrp_ctx_create(struct cgroup *cgrp);
__hidden struct cgrp_ctx *lookup_cgrp_ctx(struct cgroup *cgrp);
__hidden struct cgrp_ctx *ancestor_ctx(struct cgroup *cgrp, int level);
__hidden void set_task_cgrp(struct task_ctx *tctx, struct cgroup *cgrp);

/* cgroup.bpf.c */
__hidden u64 task_share(struct task_struct *p, struct cgroup *cgrp, struct cgrp_ctx *cgc);
__hidden void refresh_task_boost(struct task_struct *p, struct task_ctx *tctx);
__hidden s32 start_map_scan(void);

/* cpumax.bpf.c */
__hidden s64 quota_left(struct cgroup *cgrp, u64 now, u64 *due);
__hidden s64 charge_quota(struct task_struct *p, struct task_ctx *tctx,
			  struct cgroup *cgrp, u64 now, u64 *due);
__hidden bool try_throttle(struct task_struct *p, struct task_ctx *tctx, u64 enq_flags);
int release_throttled(u64 now);
__hidden void release_due(u64 at);
__hidden void release_strays(u64 now);
int throttle_heads(u64 dsq, u64 now);
__hidden void set_bandwidth(struct cgrp_ctx *cgc, u64 period_us, u64 quota_us);
__hidden s32 init_bw_timer(void);

/* queues.bpf.c */
__hidden bool may_move(const struct task_struct *p);
__hidden bool cache_hot(const struct task_ctx *tctx, u64 now);
__hidden s32 pick_idle_near(const struct task_struct *p, s32 cpu, bool anywhere);
__hidden u64 slice_for(u32 llc, u64 waiting);
__hidden u64 task_slice(s32 cpu);
__hidden bool rescue_starving(u64 now);
__hidden u64 rescue_key(struct task_struct *p, struct task_ctx *tctx, u64 dsq);
__hidden void follow_head(u32 llc, u64 head_vtime);
__hidden s32 pick_steal(u32 llc, bool all, bool idle, u64 *vtime);
__hidden s32 create_queues(void);

/* waits.bpf.c */
__hidden void wait_begin(struct task_struct *p, struct task_ctx *tctx,
			 struct cgrp_ctx *cgc);
__hidden void wait_end(struct task_ctx *tctx, struct cgroup *cgrp, u64 now);
__hidden void wait_throttled(struct task_ctx *tctx, u64 now);
__hidden void wait_released(struct task_ctx *tctx, u64 now);
__hidden void forget_waits(struct cgroup *cgrp);

/* vtime.bpf.c */
__hidden u64 wake_credit(u32 boost);
__hidden void restore_vtime(struct task_struct *p, struct task_ctx *tctx);
__hidden void charge_run(struct task_struct *p, struct task_ctx *tctx, u64 now);
__hidden void clamp_lag(struct task_struct *p, const struct task_ctx *tctx,
			u32 llc, bool waking);
__hidden u64 running_deadline(const struct cpu_ctx *cctx, u64 vtime);
__hidden u64 burst_end(const struct task_ctx *tctx);
__hidden u64 lead_of(u64 vtime, u32 boost, u64 deadline, u32 holder_boost,
		     bool holder_in_burst);

#endif /* __MUS_BPF_H */
