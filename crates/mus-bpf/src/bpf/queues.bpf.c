/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Topology and queues: a queue per last-level cache and per CPU, idle-CPU
 * search, slices, each cache's progress (llc_progress), stealing between
 * caches and the starvation rescue.
 */
#include "mus.bpf.h"

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

/*
 * Each cache's progress (struct llc_progress in mus.bpf.h): the vtime of the
 * head of the cache's queue its CPUs last took a task from (the smallest
 * vtime still waiting there), or, while nothing waits, of the tasks that
 * start running there (at most a slice ahead per switch). Waking and new
 * tasks are placed, and a runnable task's lag bounded, against the progress
 * of the cache they are queued in. vtime is one currency across caches
 * (stealing compares heads of different queues, and keeps busy queues' heads
 * within STEAL_SLICES of each other), so the caches' progress values differ
 * by about that much; a task that changes caches (a steal, an idle CPU
 * elsewhere) is measured against its new cache's at its next wake-up or
 * requeue. Before, one value served the node: written on most switches by
 * every CPU of every socket, its cache line went wherever the last switch
 * was, and a task waking in a lagging cache was placed against the furthest
 * head, up to STEAL_SLICES behind its own queue's. Each cache's value is on
 * its own cache line, written by that cache's CPUs only, without
 * synchronisation: a lost update only makes the next waking task's credit
 * slightly more generous.
 */
private(MUS_VTIME) struct llc_progress llc_progress[MUS_MAX_LLCS];

/* When a CPU last looked for starving tasks; see RESCUE_AFTER_NS. */
private(MUS_RESCUE) u64 last_starvation_scan;

/*
 * Whether @p may be inserted into another CPU's local queue: the kernel
 * ejects a scheduler that moves a migration-disabled task. Read
 * conservatively: for the current task the BPF prolog's own
 * migrate_disable() may be counted, and such a task is then simply queued.
 */
__hidden bool may_move(const struct task_struct *p)
{
	return !p->migration_disabled;
}

/* Whether the task of @tctx (NULL: none) ran less than MIGRATION_COST_NS before @now. */
__hidden bool cache_hot(const struct task_ctx *tctx, u64 now)
{
	return tctx && tctx->stopped_at && now - tctx->stopped_at < MIGRATION_COST_NS;
}

/*
 * An idle CPU for @p, near @cpu, in the order of the kernel's own pick that
 * ops.select_cpu uses (scx_bpf_select_cpu_dfl()), so that one rule places a
 * task on an idle CPU whichever callback finds it: @cpu itself (its cache is
 * the warmest), then its cache (when @p may run on all of that cache's CPUs,
 * so that the cache's mask needs no intersection with @p's: a task whose
 * cpuset covers the cache keeps its locality), then, if @anywhere, anywhere
 * @p may run. Claims it (clears its idle bit); -1 if none. Unlike the
 * kernel's pick it does not look for a wholly idle SMT core first. Cost: two
 * kfuncs for a task that may run on @cpu alone (a pod confined by a cpuset,
 * whose wake-ups come here without ops.select_cpu), one search more for
 * others when @cpu is busy.
 */
__hidden s32 pick_idle_near(const struct task_struct *p, s32 cpu, bool anywhere)
{
	u32 llc = llc_of(cpu);
	struct bpf_cpumask *cpus;
	struct llc_mask *m;
	s32 idle;

	if (bpf_cpumask_test_cpu(cpu, p->cpus_ptr)) {
		if (scx_bpf_test_and_clear_cpu_idle(cpu))
			return cpu;
		/* its only CPU is busy: nothing to search */
		if (p->nr_cpus_allowed == 1)
			return -1;
	}
	if (nr_llcs <= 1)
		return scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	/*
	 * The mask is read once: reloaded after bpf_cpumask_subset(), it would
	 * be a possibly-NULL pointer again to the verifier (this branch is
	 * verified only where the runner found more than one cache).
	 */
	m = bpf_map_lookup_elem(&llc_masks, &llc);
	cpus = m ? m->cpus : NULL;
	if (cpus && (p->nr_cpus_allowed >= nr_cpus ||
		     bpf_cpumask_subset(cast_mask(cpus), p->cpus_ptr))) {
		idle = scx_bpf_pick_idle_cpu(cast_mask(cpus), 0);
		if (idle >= 0)
			return idle;
	}
	return anywhere ? scx_bpf_pick_idle_cpu(p->cpus_ptr, 0) : -1;
}

/*
 * The slice of a task starting now on a CPU of cache @llc while @waiting
 * tasks wait for that CPU (its cache's queue and its own): slice_ns when
 * nothing waits, shrinking towards slice_min_ns as tasks queue up, so that
 * each waits about one round of short slices rather than a long one per task
 * ahead of it.
 */
__hidden u64 slice_for(u32 llc, u64 waiting)
{
	u32 cpus = llc_nr_cpus(llc);
	u64 slice = slice_ns * cpus / (cpus + waiting);

	return slice < slice_min_ns ? slice_min_ns : slice;
}

/* The slice of a task starting now on @cpu (two queue-length lookups). */
__hidden u64 task_slice(s32 cpu)
{
	u32 llc = llc_of(cpu);

	return slice_for(llc, scx_bpf_dsq_nr_queued(LLC_DSQ(llc)) +
			      scx_bpf_dsq_nr_queued(CPU_DSQ(cpu)));
}

/*
 * The key that puts the rescued @p (@tctx its context) at the head of @dsq:
 * the place is lent, as queue_key() lends it, and @p is charged from its own
 * vtime (restore_vtime()). Marks @p rescued: its next run is short, and a CPU
 * gives way to it (gives_way()).
 */
__hidden u64 rescue_key(struct task_struct *p, struct task_ctx *tctx, u64 dsq)
{
	struct task_struct *head = __COMPAT_scx_bpf_dsq_peek(dsq);

	if (!tctx->queued_ahead) {
		tctx->own_vtime = p->scx.dsq_vtime;
		tctx->queued_ahead = true;
	}
	tctx->rescued = true;
	return (head ? head->scx.dsq_vtime : p->scx.dsq_vtime) - 1;
}

/*
 * Puts up to @budget tasks of @dsq queued longer than RESCUE_AFTER_NS, and
 * every one that has waited longer than RESCUE_ALWAYS_NS by the watchdog's
 * clock (waiting_since()), at the head of @dsq: two passes
 * from the tail (where the starving are: the largest vtimes), the first
 * taking only tasks past RESCUE_ALWAYS_NS (see rescue_key()). The queued
 * time starts again when cpu.max releases a task (enqueued_at): time its
 * own cgroup's quota held it back is not starvation by neighbours. It once
 * counted: each of 32 threads under 0.1 CPU, held back longer than
 * RESCUE_AFTER_NS in turn, was rescued as soon as it was released (220 rescues
 * in 10 s), the rescued runs' debt grew without end, and the cgroup got
 * 1.02-1.14x its quota (evaluation/journal/limits.md). The iterator skips
 * tasks moved during the pass. Global (scalar arguments only), so that the
 * verifier checks it once, not per queue loop.
 */
__attribute__((noinline))
int rescue_from(u64 dsq, u64 now, u32 budget)
{
	struct task_struct *p;
	int pass;

	if (!scx_bpf_dsq_nr_queued(dsq))
		return 0;
	bpf_for(pass, 0, 2) {
		bpf_for_each(scx_dsq, p, dsq, SCX_DSQ_ITER_REV) {
			struct task_ctx *tctx = task_ctx_of(p);
			bool again;
			u64 since;

			/*
			 * A rescued task may lose the head again (a boosted
			 * waker or a smaller vtime queued in front of it):
			 * past RESCUE_ALWAYS_NS it is put back on every scan.
			 */
			if (!tctx || (pass && tctx->rescued))
				continue;
			since = pass ? tctx->enqueued_at : waiting_since(tctx);
			if (time_before(now, since + (pass ? RESCUE_AFTER_NS :
							 RESCUE_ALWAYS_NS)) ||
			    (pass && !budget))
				continue;
			/* put back, not rescued: no new rescue, late or not */
			again = tctx->rescued;
			scx_bpf_dsq_move_set_vtime(BPF_FOR_EACH_ITER,
						   rescue_key(p, tctx, dsq));
			if (scx_bpf_dsq_move_vtime(BPF_FOR_EACH_ITER, p, dsq, 0)) {
				stat_add(MUS_STAT_STARVATION_RESCUES, 1);
				if (!pass && !again)
					stat_add(MUS_STAT_LATE_RESCUES, 1);
				if (budget)
					budget--;
			}
		}
	}
	return 0;
}

/*
 * Rescues starving tasks (see RESCUE_AFTER_NS), if the last scan at @now is
 * older than RESCUE_SCAN_NS. One CPU scans at a time (the compare-and-swap);
 * at most ten times a second, O(queues + queued tasks). Returns whether this
 * CPU scanned (its caller then also backs up the throttled tasks' release:
 * release_strays()).
 */
__hidden bool rescue_starving(u64 now)
{
	u64 last = last_starvation_scan;
	u32 i;

	if (now - last < RESCUE_SCAN_NS ||
	    __sync_val_compare_and_swap(&last_starvation_scan, last, now) != last)
		return false;
	bpf_for(i, 0, nr_llcs)
		rescue_from(LLC_DSQ(i), now, RESCUES_PER_CPU * llc_nr_cpus(i));
	bpf_for(i, 0, nr_cpus)
		rescue_from(CPU_DSQ(i), now, RESCUES_PER_CPU);
	return true;
}

/*
 * A queue's head is the smallest vtime waiting there: cache @llc's progress.
 * Follow it by at most two slices per dispatch (about twice the pace of a
 * busy queue): when only far-behind tasks wait (a starving BestEffort thread
 * charged seconds for one slice), the cache must not leap to them, or every
 * task waking next would be placed behind the running ones.
 */
__hidden void follow_head(u32 llc, u64 head_vtime)
{
	u64 *progress = progress_of(llc), now_v = *progress;

	if (time_before(now_v, head_vtime))
		*progress = time_before(head_vtime, now_v + 2 * slice_ns) ?
			    head_vtime : now_v + 2 * slice_ns;
}

/*
 * The vtime from which a CPU of another cache may take @p: its own, plus
 * STEAL_SLICES of its slices' charge at the share it last ran with.
 */
static u64 steal_vtime(struct task_struct *p)
{
	struct task_ctx *tctx = task_ctx_of(p);
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
__hidden s32 pick_steal(u32 llc, bool all, bool idle, u64 *vtime)
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
		if (!head || (idle && cache_hot(task_ctx_of(head), now)))
			continue;
		v = steal_vtime(head);
		if (best < 0 || time_before(v, *vtime)) {
			best = l;
			*vtime = v;
		}
	}
	return best;
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

/*
 * The queues: one per cache (allocated on its CPUs' node: a cache's CPUs are
 * on one node, the first one's), one per CPU, and the throttled tasks' one.
 */
__hidden s32 create_queues(void)
{
	s32 ret;
	u32 i;

	bpf_for(i, 0, nr_llcs) {
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
	return scx_bpf_create_dsq(THROTTLED_DSQ, -1);
}
