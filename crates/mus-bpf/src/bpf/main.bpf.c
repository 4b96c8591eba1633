/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mus: the Mostly Unfair Scheduler.
 *
 * Weighted virtual time over one shared, vtime-ordered dispatch queue. Every
 * task accumulates vtime as it runs, scaled down by its weight; CPUs always
 * pull the task with the smallest vtime. A task whose cgroup, or any ancestor
 * of it, is listed in the pinned map high_prio_cgroups runs with that entry's
 * weight (4096 by default against 1024), so it accumulates vtime more slowly
 * and gets a proportionally larger share of contended CPUs. Everyone else keeps
 * progressing at its own weight's share: nothing is starved.
 *
 * Resolving a task's weight means walking its cgroup ancestry with one hash
 * lookup per level. That is too much for every context switch, so the result
 * is cached per task and recomputed only when the task changes cgroup or the
 * map changes. Nothing tells BPF when user space writes the map, so a BPF timer
 * fingerprints the map periodically and bumps a generation counter on change.
 *
 * Weights decide how much CPU a cgroup gets, not when. So that a boosted task
 * also runs promptly, a boosted task that wakes up while no CPU is idle
 * preempts a CPU running a non-boosted task (its previous CPU if possible, for
 * a warm cache; else the one whose task has run longest), provided it is not
 * ahead of its share; and while boosted tasks wait in the queue, other tasks
 * get short slices.
 *
 * Also honoured: nice (in the weight), and cpu.idle (weight 1 for tasks under
 * an idle cgroup, unless the map boosts them). Not honoured: cpu.weight and
 * cpu.max; README.md says why.
 */
#include <scx/common.bpf.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

UEI_DEFINE(uei);

/* The one dispatch queue all CPUs share, ordered by vtime. */
#define SHARED_DSQ		0

#define NSEC_PER_MSEC		1000000ULL

/*
 * A task that stays runnable this long without getting a CPU makes the kernel
 * eject the scheduler and fall back to the fair class. The starvation rescue
 * below keeps every wait far below this.
 */
#define WATCHDOG_TIMEOUT_MS	5000

/*
 * Weighted fairness alone does not bound how long a task waits: a nice-19 task
 * (weight 1 where nice 0 is 100) among boosted busy tasks is charged so much vtime for one
 * slice that its next turn can be many seconds away, and the watchdog would
 * eject us. A task queued for longer than this runs next, out of vtime order,
 * for a short slice (slice_min_ns). It is checked at most every
 * STARVATION_SCAN_NS, by whichever CPU dispatches.
 */
#define STARVATION_NS		(1000 * NSEC_PER_MSEC)
#define STARVATION_SCAN_NS	(100 * NSEC_PER_MSEC)

/*
 * Tunables, written by mus-runner into .rodata before the program is loaded.
 */

/*
 * Time slice given to every task. Shorter slices let waiting tasks in sooner
 * at the price of more context switches (mus-runner --slice-us).
 */
const volatile u64 slice_ns = 5 * NSEC_PER_MSEC;

/*
 * Slice of a non-boosted task while boosted tasks wait in the queue, so they
 * get a CPU within about this long; back to slice_ns once none wait
 * (mus-runner --slice-min-us).
 */
const volatile u64 slice_min_ns = 500 * 1000ULL;

/*
 * Whether a waking boosted task may preempt a non-boosted one (mus-runner
 * --no-preempt turns it off, to measure what weights alone do).
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
	/* cgroup (dfl hierarchy) and map generation the weight was resolved at */
	u64 cgid;
	u64 map_gen;
	/* weight of the task's cgroup subtree, and whether a map entry gave it */
	u32 weight;
	bool boosted;
	/* when the task last got a CPU, to charge what it used */
	u64 started_at;
	/* when the task was last put in the shared queue */
	u64 enqueued_at;
	/* counted in nr_boosted_queued: boosted and waiting in the shared queue */
	bool boosted_queued;
};

/* What the scheduler remembers about each CPU, read by other CPUs. */
struct cpu_ctx {
	/* whether the CPU's current task is boosted, and since when it runs */
	bool boosted;
	u64 started_at;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

/*
 * What the scheduler remembers about each cgroup of the cpu controller: whether
 * its cpu.idle is 1. Tasks under such a cgroup run at MUS_WEIGHT_IDLE unless a
 * map entry boosts them.
 */
struct cgrp_ctx {
	bool idle;
};

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgrp_ctx);
} cgrp_ctxs SEC(".maps");

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

/*
 * Bumped by the map scan whenever high_prio_cgroups changed. Tasks whose
 * cached weight carries an older generation resolve it again.
 */
volatile u64 map_gen;

/*
 * About the largest vtime a task started running at (see mus_running): the
 * scheduler's notion of "now". Updated without synchronisation from every
 * CPU; a lost update only makes the wake-up credit of the next task slightly
 * more generous.
 */
static u64 vtime_now;

/* When a CPU last looked for starving tasks; see STARVATION_NS. */
static u64 last_starvation_scan;

/*
 * Boosted tasks waiting in the shared queue. Incremented when one is queued,
 * decremented when it runs or leaves the scheduler; only ever compared with 0.
 */
static s64 nr_boosted_queued;

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

/* An entry's weight as the scheduler honours it; see struct mus_cgroup_prio. */
static u32 entry_weight(const struct mus_cgroup_prio *prio)
{
	if (!prio->weight)
		return default_high_weight;
	return prio->weight > MUS_WEIGHT_MAX ? MUS_WEIGHT_MAX : prio->weight;
}

/*
 * Whether @p's cgroup in the cpu controller's hierarchy, or an ancestor of it,
 * has cpu.idle set. Called only when the weight is resolved again, so the walk
 * (one kfunc and one storage lookup per level) stays off the hot path.
 */
static bool in_idle_cgroup(struct task_struct *p)
{
	struct cgroup *cgrp = scx_bpf_task_cgroup(p);
	bool idle = false;
	int level;

	if (!cgrp)
		return false;
	bpf_for(level, 1, MUS_MAX_CGROUP_DEPTH) {
		struct cgroup *anc;
		struct cgrp_ctx *cctx;

		if (level > cgrp->level)
			break;
		anc = bpf_cgroup_ancestor(cgrp, level);
		if (!anc)
			break;
		cctx = bpf_cgrp_storage_get(&cgrp_ctxs, anc, 0, 0);
		idle = cctx && cctx->idle;
		bpf_cgroup_release(anc);
		if (idle)
			break;
	}
	bpf_cgroup_release(cgrp);
	return idle;
}

/*
 * Make @tctx hold the weight of @p's cgroup: the entry of its nearest ancestor
 * (itself included) in high_prio_cgroups, else MUS_WEIGHT_NORMAL.
 *
 * The cgroup is the task's cgroup v2 membership (what /proc/PID/cgroup shows,
 * and so what the agent resolves), not the cpu controller's, so a boost works
 * whether or not the cpu controller is enabled down to the task's cgroup. It is
 * read without holding a reference: a task migrating cgroups concurrently may
 * be resolved against the old one, and is resolved again on its next switch
 * because the cached ID then differs.
 */
static void refresh_weight(struct task_struct *p, struct task_ctx *tctx)
{
	struct cgroup *cgrp = BPF_CORE_READ(p, cgroups, dfl_cgrp);
	u64 cgid = BPF_CORE_READ(cgrp, kn, id);
	u64 gen = map_gen;
	int level, i;

	if (cgid == tctx->cgid && gen == tctx->map_gen)
		return;

	/*
	 * The generation is sampled before the walk: if the map changes during
	 * the walk, the scan bumps map_gen again and the task re-resolves.
	 */
	tctx->cgid = cgid;
	tctx->map_gen = gen;
	tctx->weight = MUS_WEIGHT_NORMAL;
	tctx->boosted = false;
	stat_add(MUS_STAT_WEIGHT_REFRESH, 1);

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
			tctx->weight = entry_weight(prio);
			tctx->boosted = true;
			return;
		}
	}

	/* An operator's boost wins over cpu.idle; cpu.idle wins over normal. */
	if (in_idle_cgroup(p))
		tctx->weight = MUS_WEIGHT_IDLE;
}

/*
 * Virtual time that @ran nanoseconds of CPU cost a task: scaled by
 * NORMAL / (cgroup weight x nice weight). p->scx.weight is the nice weight on
 * the cgroup scale, 100 for nice 0, so a nice-0 task of a normal cgroup is
 * charged exactly what it ran.
 */
static u64 vtime_charge(u64 ran, u32 cgroup_weight, u32 task_weight)
{
	u64 weight = (u64)cgroup_weight * task_weight;

	return ran * MUS_WEIGHT_NORMAL * 100 / (weight ?: 1);
}

s32 BPF_STRUCT_OPS(mus_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		/* Nobody to be fair against on an idle CPU: run right away. */
		stat_add(MUS_STAT_DISPATCH_IDLE, 1);
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
	}
	return cpu;
}

/*
 * Finds a CPU for a waking boosted task @p to preempt: its previous CPU if that
 * runs a non-boosted task (the cache is warm there), else the CPU whose
 * non-boosted task has run longest. -1 if every CPU @p may use runs a boosted
 * task.
 *
 * Other CPUs' state is read without locks: the victim may have switched tasks
 * since, in which case a task that just got its CPU is preempted (or, rarely, a
 * boosted one). The victim is marked boosted at once so that simultaneous
 * wake-ups spread over different CPUs.
 */
static s32 pick_victim(struct task_struct *p)
{
	s32 prev = scx_bpf_task_cpu(p), victim = -1;
	u32 cpu, nr_cpus = scx_bpf_nr_cpu_ids();
	u64 oldest = (u64)-1;
	struct cpu_ctx *cctx;

	cctx = lookup_cpu_ctx(prev);
	if (cctx && !cctx->boosted && bpf_cpumask_test_cpu(prev, p->cpus_ptr)) {
		victim = prev;
		goto claim;
	}

	bpf_for(cpu, 0, nr_cpus) {
		cctx = lookup_cpu_ctx(cpu);
		if (!cctx || cctx->boosted || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		if (cctx->started_at < oldest) {
			oldest = cctx->started_at;
			victim = cpu;
		}
	}
	if (victim < 0)
		return -1;
	cctx = lookup_cpu_ctx(victim);
claim:
	if (cctx)
		cctx->boosted = true;
	return victim;
}

void BPF_STRUCT_OPS(mus_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	u64 vtime = p->scx.dsq_vtime;
	s32 victim;

	/*
	 * A task that slept must not come back with a hoard of unused vtime and
	 * monopolise the CPUs: it gets at most one slice of credit against the
	 * running tasks, on every enqueue (the original project clamped only
	 * when the task entered the scheduler).
	 */
	if (time_before(vtime, vtime_now - slice_ns))
		vtime = vtime_now - slice_ns;

	if (!tctx) {
		scx_bpf_dsq_insert_vtime(p, SHARED_DSQ, slice_ns, vtime, enq_flags);
		return;
	}
	refresh_weight(p, tctx);

	/*
	 * A boosted task waking up runs now, on a CPU taken from a non-boosted
	 * task, unless it is ahead of its share (its vtime past the scheduler's
	 * "now"): then it waits its turn like everyone, so that the neighbours
	 * keep their weight's share of the CPU.
	 */
	if (preempt_enabled && tctx->boosted && (enq_flags & SCX_ENQ_WAKEUP) &&
	    !time_before(vtime_now, vtime) && (victim = pick_victim(p)) >= 0) {
		p->scx.dsq_vtime = vtime;
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL_ON | victim, slice_ns,
				   enq_flags | SCX_ENQ_PREEMPT);
		stat_add(MUS_STAT_PREEMPTIONS, 1);
		return;
	}

	tctx->enqueued_at = scx_bpf_now();
	if (tctx->boosted && !tctx->boosted_queued) {
		tctx->boosted_queued = true;
		__sync_fetch_and_add(&nr_boosted_queued, 1);
	}
	scx_bpf_dsq_insert_vtime(p, SHARED_DSQ, slice_ns, vtime, enq_flags);
}

/* @p left the shared queue (to run, or to leave the scheduler). */
static void boosted_unqueue(struct task_ctx *tctx)
{
	if (tctx->boosted_queued) {
		tctx->boosted_queued = false;
		__sync_fetch_and_sub(&nr_boosted_queued, 1);
	}
}

void BPF_STRUCT_OPS(mus_dequeue, struct task_struct *p, u64 deq_flags)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

	if (tctx)
		boosted_unqueue(tctx);
}

/*
 * Whether @prev, whose slice ran out, should keep its CPU for another slice.
 *
 * The kernel calls ops.dispatch before it puts @prev back in the queue, so the
 * queue's head would always win, even against a @prev with a smaller vtime: a
 * boosted task could never run two slices in a row and, with as many waiting
 * tasks as CPUs, weights would count for little. So compare @prev with the
 * head. @prev's last run is not charged yet (ops.stopping comes after this), so
 * compare with what it will be charged. The head is peeked without the queue's
 * lock: if it is dequeued meanwhile, one decision is made on a stale vtime.
 */
static bool keep_running(struct task_struct *prev)
{
	struct task_struct *head;
	struct task_ctx *tctx;
	u64 now = scx_bpf_now(), vtime;

	if (!prev || !(prev->scx.flags & SCX_TASK_QUEUED))
		return false;
	tctx = lookup_task_ctx(prev);
	if (!tctx || time_before(now, tctx->started_at))
		return false;

	head = __COMPAT_scx_bpf_dsq_peek(SHARED_DSQ);
	if (!head)
		return true;
	vtime = prev->scx.dsq_vtime +
		vtime_charge(now - tctx->started_at, tctx->weight, prev->scx.weight);
	return !time_before(head->scx.dsq_vtime, vtime);
}

/*
 * Moves the longest-queued task that has waited more than STARVATION_NS to this
 * CPU, if the last scan is older than STARVATION_SCAN_NS. One CPU scans at a
 * time (the compare-and-swap), and a scan rescues one task: starvation is the
 * exception, and a second starving task is found by the next scan.
 */
static bool rescue_starving(void)
{
	u64 now = scx_bpf_now(), last = last_starvation_scan;
	struct task_struct *p;

	if (now - last < STARVATION_SCAN_NS ||
	    __sync_val_compare_and_swap(&last_starvation_scan, last, now) != last)
		return false;

	/* from the tail: the starving are the ones with the largest vtime */
	bpf_for_each(scx_dsq, p, SHARED_DSQ, SCX_DSQ_ITER_REV) {
		struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
		s32 cpu = bpf_get_smp_processor_id();
		u64 dsq_id = SCX_DSQ_LOCAL;

		if (!tctx || now - tctx->enqueued_at < STARVATION_NS)
			continue;
		/*
		 * A task that may not run here (a per-CPU kthread, a pinned
		 * task) goes to the local queue of the CPU it last ran on,
		 * which runs it when its current slice ends.
		 */
		if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr)) {
			cpu = scx_bpf_task_cpu(p);
			if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
				continue;
			dsq_id = SCX_DSQ_LOCAL_ON | cpu;
		}
		/* enough to make progress, not enough to distort the shares */
		scx_bpf_dsq_move_set_slice(BPF_FOR_EACH_ITER, slice_min_ns);
		if (scx_bpf_dsq_move(BPF_FOR_EACH_ITER, p, dsq_id, 0)) {
			if (dsq_id != SCX_DSQ_LOCAL)
				scx_bpf_kick_cpu(cpu, 0);
			stat_add(MUS_STAT_STARVATION_RESCUES, 1);
			return true;
		}
	}
	return false;
}

void BPF_STRUCT_OPS(mus_dispatch, s32 cpu, struct task_struct *prev)
{
	if (rescue_starving())
		return;
	if (keep_running(prev)) {
		/* no ops.stopping/running in between: started_at keeps counting */
		prev->scx.slice = slice_ns;
		return;
	}
	if (scx_bpf_dsq_move_to_local(SHARED_DSQ, 0))
		stat_add(MUS_STAT_DISPATCH_SHARED, 1);
}

/* While boosted tasks wait, a non-boosted task runs at most slice_min_ns. */
static void shorten_slice_if_boosted_wait(struct task_struct *p,
					  struct task_ctx *tctx)
{
	if (!tctx->boosted && nr_boosted_queued > 0 && p->scx.slice > slice_min_ns) {
		p->scx.slice = slice_min_ns;
		stat_add(MUS_STAT_SHORT_SLICES, 1);
	}
}

void BPF_STRUCT_OPS(mus_running, struct task_struct *p)
{
	struct task_ctx *tctx;
	struct cpu_ctx *cctx;

	/*
	 * Advance "now" to the task's vtime, but by at most one slice per
	 * switch: a task far ahead of the others that runs out of order (a
	 * starvation rescue, a wake-up on an idle CPU) must not drag everyone's
	 * wake-up credit along and so erase its own debt.
	 */
	if (time_before(vtime_now, p->scx.dsq_vtime))
		vtime_now = time_before(p->scx.dsq_vtime, vtime_now + slice_ns) ?
			    p->scx.dsq_vtime : vtime_now + slice_ns;

	tctx = lookup_task_ctx(p);
	if (!tctx)
		return;

	boosted_unqueue(tctx);
	refresh_weight(p, tctx);
	tctx->started_at = scx_bpf_now();
	stat_add(tctx->boosted ? MUS_STAT_RUN_BOOSTED : MUS_STAT_RUN_NORMAL, 1);

	cctx = lookup_cpu_ctx(bpf_get_smp_processor_id());
	if (cctx) {
		cctx->boosted = tctx->boosted;
		cctx->started_at = tctx->started_at;
	}
	shorten_slice_if_boosted_wait(p, tctx);
}

/*
 * Called on every tick for the running task: a non-boosted task's slice is cut
 * to slice_min_ns as soon as a boosted task waits.
 */
void BPF_STRUCT_OPS(mus_tick, struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

	if (tctx)
		shorten_slice_if_boosted_wait(p, tctx);
}

void BPF_STRUCT_OPS(mus_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	u64 now = scx_bpf_now(), ran;

	if (!tctx || !tctx->started_at || time_before(now, tctx->started_at))
		return;

	/* Charge the task that ran (p), for what it ran, at its own weight. */
	ran = now - tctx->started_at;
	p->scx.dsq_vtime += vtime_charge(ran, tctx->weight, p->scx.weight);
	stat_add(tctx->boosted ? MUS_STAT_RUNTIME_BOOSTED_NS :
				 MUS_STAT_RUNTIME_NORMAL_NS, ran);
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
	 * the first switch resolves the weight.
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
 * Fingerprint high_prio_cgroups and bump map_gen if it changed. A change that
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
		stat_add(MUS_STAT_MAP_CHANGES, 1);
	}

	bpf_timer_start(&scan->timer, map_scan_interval_ns, 0);
	return 0;
}

static s32 start_map_scan(void)
{
	u32 zero = 0;
	struct map_scan *scan = bpf_map_lookup_elem(&map_scan_state, &zero);
	s32 ret;

	if (!scan)
		return -ENOENT;
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

s32 BPF_STRUCT_OPS(mus_cgroup_init, struct cgroup *cgrp,
		   struct scx_cgroup_init_args *args)
{
	struct cgrp_ctx *cctx;

	cctx = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!cctx)
		return -ENOMEM;
	if (bpf_core_field_exists(args->sched_idle))
		cctx->idle = args->sched_idle;
	return 0;
}

void BPF_STRUCT_OPS(mus_cgroup_set_idle, struct cgroup *cgrp, bool idle)
{
	struct cgrp_ctx *cctx = bpf_cgrp_storage_get(&cgrp_ctxs, cgrp, 0, 0);

	if (cctx)
		cctx->idle = idle;
	/* have every task resolve its weight again, as for a map change */
	__sync_fetch_and_add(&map_gen, 1);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(mus_init)
{
	s32 ret;

	ret = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (ret)
		return ret;
	return start_map_scan();
}

void BPF_STRUCT_OPS(mus_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(uei, ei);
}

SCX_OPS_DEFINE(mus_ops,
	       .select_cpu	= (void *)mus_select_cpu,
	       .enqueue		= (void *)mus_enqueue,
	       .dequeue		= (void *)mus_dequeue,
	       .dispatch	= (void *)mus_dispatch,
	       .running		= (void *)mus_running,
	       .stopping	= (void *)mus_stopping,
	       .tick		= (void *)mus_tick,
	       .enable		= (void *)mus_enable,
	       .init_task	= (void *)mus_init_task,
	       .cgroup_init	= (void *)mus_cgroup_init,
	       .cgroup_set_idle	= (void *)mus_cgroup_set_idle,
	       .init		= (void *)mus_init,
	       .exit		= (void *)mus_exit,
	       .timeout_ms	= WATCHDOG_TIMEOUT_MS,
	       .name		= "mus");
