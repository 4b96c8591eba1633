/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Run-queue waits per cgroup: how long each task waited from runnable (it
 * woke, or was preempted or its slice ended) to running, as a log2
 * histogram per cgroup, split by whose doing the wait was, and the time its
 * cgroup's cpu.max held it back apart. mus-runner pins the histograms as
 * mus_cgroup_waits; mus-common reads them (p50/p99 per cgroup and interval)
 * for mus-runner --monitor and mus-agent.
 *
 * Whose doing (enum mus_wait_class), decided when the wait begins, O(1):
 * the wait is the cgroup's OWN when the cgroup has more runnable tasks
 * (cgrp_ctx.nr_tasks, which the tree already counts) than the CPUs it may
 * use: it would wait even with no neighbour. Otherwise it is spent behind
 * OTHERS (other cgroups, or other scheduling classes). The CPUs a cgroup may
 * use are the waiting task's allowed CPUs (p->nr_cpus_allowed: affinity and
 * cpuset), and no more than its cpu.max quota / period rounded up. So a
 * cgroup alone with 8 busy threads on 2 CPUs waits on its own account, one
 * thread next to many noise threads on others'. Time a task spends held
 * back by cpu.max (THROTTLED_DSQ) is neither: it is counted apart
 * (throttled_ns); the rest of that wait keeps the class it began with.
 *
 * (A first rule also asked that the cgroup hold all those CPUs when the wait
 * began, from a count of its running tasks kept in ops.running and
 * ops.stopping, so that a cgroup over its CPU count but squeezed by
 * neighbours would wait on their account. It cost an atomic in each and a
 * cgroup lookup in every ops.stopping, and misjudged the commonest case:
 * slices end on ticks, often on both CPUs at once, and a task preempted
 * while the other CPU was between two of its siblings saw its cgroup hold
 * one CPU of two; 8 threads alone on 2 CPUs then had 42 % of their waiting
 * put on others' account in one guest run.)
 *
 * What the rule cannot tell apart:
 * - A cgroup with more runnable threads than its CPUs that is also
 *   squeezed by neighbours (4 threads under a quota of 2 CPUs that get one
 *   because noise holds the other) waits on its own account only, although
 *   a boost would give it the second CPU. Its CPU time against its quota
 *   (cpu.stat) tells the two apart; the wait alone cannot.
 * - The class is a snapshot at the wait's start: threads that wake or sleep
 *   during the wait do not change it, and one wait is never split.
 * - Limits are read from the task's own cgroup only: an ancestor's
 *   cpu.max (a pod's, over containers without one of their own) does not
 *   lower the CPU count, so a container under its pod's quota waits on
 *   others' account when its pod's quota, not a neighbour, is the cause;
 *   its throttled time is still counted apart. cpu.max.burst, and CPUs
 *   taken offline, are not seen either.
 * - Waits are per cgroup of the cpu controller (the tasks' own cgroup
 *   where it has one, as under kubelet): a pod's are the sum of its
 *   containers', which the reader adds up.
 *
 * Tolerated races: nr_tasks is read without a lock while other CPUs change
 * it, so a wait that begins as a sibling wakes or sleeps may take the other
 * class. A task that is dequeued without running (it exits, or its affinity
 * changes: ops.runnable then starts a new wait) records nothing for that
 * wait. The per-CPU values are read by user space while they change: a
 * reading may have a wait's bucket and not yet its time. The clock is each
 * CPU's (scx_bpf_now()); a wait that would come out negative across CPUs is
 * 0.
 *
 * Memory: an entry is made on a cgroup's first wait and deleted when the
 * cgroup goes (ops.cgroup_exit), sizeof(struct mus_cgroup_waits) (384
 * bytes) per possible CPU: 24 KiB per cgroup on 64 CPUs. A wait that finds
 * the map full (MUS_WAIT_MAX_CGROUPS) is not recorded, and counted
 * (MUS_STAT_WAITS_LOST).
 *
 * Cost, with wait_histograms on (mus-runner --no-wait-histograms turns it
 * all off, and the cost was measured with it,
 * evaluation/journal/waits.md): ops.running adds one per-CPU hash lookup, a
 * log2 and three additions (an insert on a cgroup's first wait); ops.stopping
 * of a task that stays runnable (preempted, or its slice ended) one cgroup
 * storage lookup (the cgroup is cached in the task's context), of a task that
 * sleeps nothing; ops.runnable, a few loads;
 * enqueue and dispatch, a timestamp when they throttle or release a task. No
 * atomics, nothing O(CPUs) or O(depth).
 */
#include "mus.bpf.h"

/* cgroup ID -> its waits on each CPU. Pinned by mus-runner, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MUS_WAIT_MAX_CGROUPS);
	__type(key, u64);
	__type(value, struct mus_cgroup_waits);
} cgroup_waits SEC(".maps");

/*
 * What a cgroup's entry starts as (bpf_map_update_elem() copies it into
 * this CPU's value and zeroes the others'); too large for the stack.
 */
struct mus_cgroup_waits zero_waits;

/* How many CPUs @p's cgroup (@cgc) may use at once; see the header. */
static u64 cpus_usable(const struct task_struct *p, const struct cgrp_ctx *cgc)
{
	u64 cpus = p->nr_cpus_allowed, period = cgc->period_ns, quota;

	if (cgc->quota_ns && period) {
		quota = (cgc->quota_ns + period - 1) / period;
		if (quota < cpus)
			cpus = quota;
	}
	return cpus;
}

/*
 * A wait of @p (@tctx its context, @cgc its cgroup's or NULL) begins now:
 * it became runnable, or stopped running but stays runnable. Classed by the
 * header's rule.
 */
__hidden void wait_begin(struct task_struct *p, struct task_ctx *tctx,
			 struct cgrp_ctx *cgc)
{
	if (!wait_histograms)
		return;
	tctx->wait_from = scx_bpf_now() ?: 1;
	tctx->wait_throttled_ns = 0;
	tctx->throttled_at = 0;
	tctx->wait_class = cgc && cgc->nr_tasks > (s64)cpus_usable(p, cgc) ?
			   MUS_WAIT_OWN : MUS_WAIT_OTHERS;
}

/* @tctx's task is held back by cpu.max from @now on. */
__hidden void wait_throttled(struct task_ctx *tctx, u64 now)
{
	if (wait_histograms && tctx->wait_from && !tctx->throttled_at)
		tctx->throttled_at = now ?: 1;
}

/* @tctx's task is no longer held back by cpu.max, at @now. */
__hidden void wait_released(struct task_ctx *tctx, u64 now)
{
	u64 at = tctx->throttled_at;

	if (!at)
		return;
	if (time_before(at, now))
		tctx->wait_throttled_ns += now - at;
	tctx->throttled_at = 0;
}

/*
 * The bucket of a wait of @ns: 0 under 1 us, else 1 + log2(us), capped. (BPF
 * has no count-leading-zeros instruction: clang expands the builtin into a
 * few shifts and masks, without branches.)
 */
static __always_inline u32 wait_bucket(u64 ns)
{
	u64 us = ns / NSEC_PER_USEC;
	u32 b;

	if (!us)
		return 0;
	b = 64 - __builtin_clzll(us);
	if (b >= MUS_WAIT_BUCKETS)
		b = MUS_WAIT_BUCKETS - 1;
	return b;
}

/* This CPU's waits of cgroup @cgid, made if it has none yet; NULL if full. */
static struct mus_cgroup_waits *cgroup_waits_of(u64 cgid)
{
	struct mus_cgroup_waits *w = bpf_map_lookup_elem(&cgroup_waits, &cgid);

	if (w)
		return w;
	/* -EEXIST: another CPU made it meanwhile */
	bpf_map_update_elem(&cgroup_waits, &cgid, &zero_waits, BPF_NOEXIST);
	w = bpf_map_lookup_elem(&cgroup_waits, &cgid);
	if (!w)
		stat_add(MUS_STAT_WAITS_LOST, 1);
	return w;
}

/* @tctx's task starts running at @now in @cgrp: the wait that ends is recorded. */
__hidden void wait_end(struct task_ctx *tctx, struct cgroup *cgrp, u64 now)
{
	struct mus_cgroup_waits *w;
	u64 wait = 0, throttled;
	u32 class, b;

	if (!wait_histograms || !tctx->wait_from)
		return;
	wait_released(tctx, now);
	if (time_before(tctx->wait_from, now))
		wait = now - tctx->wait_from;
	tctx->wait_from = 0;
	throttled = tctx->wait_throttled_ns;
	if (throttled > wait)
		throttled = wait;
	wait -= throttled;

	w = cgroup_waits_of(cgrp->kn->id);
	if (!w)
		return;
	class = tctx->wait_class & 1;
	b = wait_bucket(wait);
	w->hist[class][b]++;
	w->wait_ns[class] += wait;
	if (throttled) {
		w->throttled_ns += throttled;
		w->throttled_waits++;
	}
}

/* @cgrp goes away: so do its waits (IDs are never reused). */
__hidden void forget_waits(struct cgroup *cgrp)
{
	u64 cgid = cgrp->kn->id;

	if (wait_histograms)
		bpf_map_delete_elem(&cgroup_waits, &cgid);
}
