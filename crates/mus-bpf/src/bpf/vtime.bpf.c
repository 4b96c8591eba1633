/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vtime accounting: what a task is charged for running, where a waking task
 * is placed, and how far a runnable one may lag.
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
 * Places a waking @p in the vtime of cache @llc's queue: a task that slept
 * must not come back with a hoard of unused vtime (at most its wake-up
 * credit), nor with more than max_debt_ns of debt.
 */
__hidden void place_waking(struct task_struct *p, struct task_ctx *tctx, u32 llc)
{
	u64 now_v = *progress_of(llc), credit = wake_credit(tctx->boost);
	u64 max_debt = max_debt_ns * nr_cpus;

	if (time_before(p->scx.dsq_vtime, now_v - credit))
		scx_bpf_task_set_dsq_vtime(p, now_v - credit);
	else if (time_before(now_v + max_debt, p->scx.dsq_vtime))
		scx_bpf_task_set_dsq_vtime(p, now_v + max_debt);
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
 * Bounds what a runnable @p that was preempted or used up its slice (queued
 * again, or weighed against the queue's head to keep its CPU) is owed:
 * at most MAX_LAG_SLICES of its slices' charge, at the share it last ran
 * with, behind the progress of cache @llc, where it is queued or runs.
 */
__hidden void bound_lag(struct task_struct *p, const struct task_ctx *tctx, u32 llc)
{
	u64 floor = *progress_of(llc) - MAX_LAG_SLICES * slice_ns * SHARE_ONE /
				(tctx->share ?: SHARE_ONE);

	if (time_before(p->scx.dsq_vtime, floor))
		scx_bpf_task_set_dsq_vtime(p, floor);
}

/*
 * The vtime at which the slice of the task running on a CPU (@cctx) ends:
 * the vtime it started at plus its slice charged at its share. The running
 * task's deadline, as in EEVDF, is the later of this and its vtime now
 * (slices end on ticks, so it may run past it). One deadline for the two
 * decisions that weigh a running task against another: whether a waker
 * preempts it (lead_over()) and whether it keeps its CPU once its slice
 * ended or it was kicked (gives_way()). Before, the second compared vtimes
 * only, so a waker ahead of the victim's deadline but behind its vtime
 * kicked it and the victim kept its CPU: an IPI and a dispatch for nothing,
 * and the waker waited on.
 */
__hidden u64 slice_end(const struct cpu_ctx *cctx)
{
	return cctx->vtime + cctx->slice * SHARE_ONE / (cctx->share ?: 1);
}

/* A task joining mus starts at the progress of its CPU's cache. */
void BPF_STRUCT_OPS(mus_enable, struct task_struct *p)
{
	scx_bpf_task_set_dsq_vtime(p, *progress_of(llc_of(scx_bpf_task_cpu(p))));
}
