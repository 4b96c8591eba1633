/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vtime accounting: what a task is charged for running, how far behind the
 * others it may be (one lag clamp), and the one order by which a task that
 * wants a CPU is weighed against the task in its way.
 */
#include "mus.bpf.h"

/*
 * Wake-up credit of a task, as vtime: it goes ahead of the tasks that queued
 * during the last slice_ns (vtime advances about nr_cpus per nanosecond
 * while every CPU is busy), boost / 1024 times that for a boosted task.
 */
__hidden u64 wake_credit(u32 boost)
{
	u64 credit = slice_ns * nr_cpus;

	if (boost > MUS_WEIGHT_NORMAL)
		credit = credit * boost / MUS_WEIGHT_NORMAL;
	return credit;
}

/*
 * The vtime @p is charged from: a task queued ahead of its vtime
 * (queue_key()) gets its own back once it leaves the queue (it runs, or is
 * queued again). Called first by every callback that reads a task's vtime
 * as its account rather than as its place.
 */
__hidden void restore_vtime(struct task_struct *p, struct task_ctx *tctx)
{
	if (tctx->queued_ahead) {
		scx_bpf_task_set_dsq_vtime(p, tctx->own_vtime);
		tctx->queued_ahead = false;
	}
}

/*
 * Charges @p for what it ran since @tctx->started_at, by the inverse of the
 * share it ran at (computed when it started: a share that changed meanwhile
 * applies from its next start), and restarts the count at @now.
 */
__hidden void charge_run(struct task_struct *p, struct task_ctx *tctx, u64 now)
{
	u64 ran = now - tctx->started_at;

	scx_bpf_task_set_dsq_vtime(p, p->scx.dsq_vtime +
				      ran * SHARE_ONE / (tctx->share ?: 1));
	stat_add(tctx->boost ? MUS_STAT_RUNTIME_BOOSTED_NS :
			       MUS_STAT_RUNTIME_NORMAL_NS, ran);
	tctx->started_at = now;
}

/*
 * The one lag clamp: how far behind the progress of cache @llc (where @p is
 * queued or runs) @p's vtime may be, that is, how much CPU it is owed.
 * - A waking @p (@waking) is owed its wake credit: a task that slept must
 *   not come back with a hoard of unused vtime. It also comes back with at
 *   most max_debt_ns of debt.
 * - A runnable @p that was preempted or used up its slice (queued again, or
 *   weighed against the queue's head to keep its CPU) is owed at most
 *   MAX_LAG_SLICES of its slices, charged at the share it last ran with, so
 *   nothing banks CPU it could not use and a share that drops (a boost taken
 *   back, a sibling started) takes effect at once. Its debt is not bounded:
 *   it ran while others waited.
 * Both are vtime behind the same progress; they differ in what a task is
 * owed, since a sleeper's claim is on the CPUs' time (slice_ns on each CPU)
 * and a runnable task's on its own share.
 */
__hidden void clamp_lag(struct task_struct *p, const struct task_ctx *tctx,
			u32 llc, bool waking)
{
	u64 now_v = *progress_of(llc), owed, debt = max_debt_ns * nr_cpus;

	owed = waking ? wake_credit(tctx->boost) :
			MAX_LAG_SLICES * slice_ns * SHARE_ONE /
			(tctx->share ?: SHARE_ONE);
	if (time_before(p->scx.dsq_vtime, now_v - owed))
		scx_bpf_task_set_dsq_vtime(p, now_v - owed);
	else if (waking && time_before(now_v + debt, p->scx.dsq_vtime))
		scx_bpf_task_set_dsq_vtime(p, now_v + debt);
}

/*
 * The deadline, as in EEVDF, of the task running on a CPU (@cctx), whose
 * vtime is @vtime now: the vtime at which its slice ends (the vtime it
 * started at plus its slice charged at its share), or @vtime if it ran past
 * that (slices end on ticks).
 */
__hidden u64 running_deadline(const struct cpu_ctx *cctx, u64 vtime)
{
	u64 end = cctx->vtime + cctx->slice * SHARE_ONE / (cctx->share ?: 1);

	return time_before(vtime, end) ? end : vtime;
}

/*
 * Until when the task of @tctx, running now, serves a burst: up to slice_ns
 * after it became runnable, for a boosted task (0: never, unboosted).
 */
__hidden u64 burst_end(const struct task_ctx *tctx)
{
	return tctx->boost ? tctx->runnable_at + slice_ns : 0;
}

/*
 * The one order: by how much vtime a task that wants a CPU (the challenger,
 * at @vtime, boosted @boost: a waker, or a queue's head at a slice's end)
 * goes before the task in its way (the holder, of deadline @deadline,
 * boosted @holder_boost, serving a burst if @holder_in_burst: the task
 * running on that CPU, or the head of the queue the challenger joins); 0
 * if it does not.
 *
 * The holder's deadline, as in EEVDF: a running task's is where its slice,
 * charged at its share, takes it, or its vtime now if it ran past that
 * (running_deadline()); a queued task's is its vtime. A task of a small share (one of
 * many noise threads) is charged tens of milliseconds of vtime for one
 * slice, so a waker a little ahead of it in vtime still goes first; shares
 * hold within that slice. (EEVDF also adds the challenger's own request to
 * its deadline; that made small-share wakers, the bystander of the wakeups
 * test, wait behind CPU hogs, and the builds that tried it lost other
 * targets: evaluation/journal/deadline.md.)
 *
 * A boost bends the order, between tasks boosted differently only, by a
 * bounded amount each way:
 * - a challenger boosted more goes first while it is at most its wake
 *   credit (wake_credit()) past the holder's deadline: being on a CPU at
 *   once is what a boost is for, and a boosted task that gets its share is
 *   often a little ahead of a neighbour that just started, or of a noise
 *   thread whose coarse vtime is a little behind its own;
 * - a holder boosted more keeps its place against a challenger boosted less
 *   while it serves a burst (burst_end(): a boosted server in the middle of
 *   a burst of requests; a boosted CPU hog for its first slice_ns only):
 *   slices shrink to slice_min_ns as the noise queues up, and without this
 *   every request in flight waited a noise slice.
 * Shares hold: a boosted task is charged from its own vtime throughout, and
 * one more than its credit ahead waits its turn like any other. What each
 * part is worth, measured one at a time in one boot (saturated Redis next to
 * noise, evaluation/journal/deadline.md): the credit carries the boosted
 * cgroup's share to its factor (without it 72-76 % of a due 80 %, at 4-6x
 * the p99), the burst buys most of the rest of the p99 (1.2 ms without it,
 * against 1.0).
 *
 * Three decisions weigh one task against another, and all by this: which
 * CPU a waker preempts (lead_over()), whether a CPU's task keeps it when its
 * slice ends or it is kicked (gives_way()), and where a boosted waker waits
 * in its queue (queue_key()). So a kicked CPU takes the waker it was kicked
 * for rather than refuse it (an IPI and a dispatch for nothing), and a
 * boosted waker is put first the same way wherever it meets a task in its
 * way. The sync grace (lead_over()) and the starvation rescue (gives_way())
 * are the only exceptions, and neither is about boosts.
 */
__hidden u64 lead_of(u64 vtime, u32 boost, u64 deadline, u32 holder_boost,
		     bool holder_in_burst)
{
	if (boost < holder_boost && holder_in_burst)
		return 0;
	if (boost > holder_boost)
		deadline += wake_credit(boost);
	return time_before(vtime, deadline) ? deadline - vtime : 0;
}

/*
 * A task joining mus (forked, or back from another class) starts at the
 * progress of its CPU's cache, and its waits at its next ops.runnable and
 * ops.enqueue: the time it spent under another class is no wait of mus's,
 * and the kernel's watchdog restarts its own runnable_at then too.
 */
void BPF_STRUCT_OPS(mus_enable, struct task_struct *p)
{
	struct task_ctx *tctx = lookup_task_ctx(p);

	scx_bpf_task_set_dsq_vtime(p, *progress_of(llc_of(scx_bpf_task_cpu(p))));
	if (tctx) {
		tctx->waiting = false;
		tctx->enqueued_at = 0;
	}
}
