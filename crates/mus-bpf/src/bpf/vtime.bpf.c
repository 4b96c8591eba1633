/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vtime accounting: what a task is charged for running, where a waking task
 * is placed, and how far a runnable one may lag.
 */
#include "mus.bpf.h"

/*
 * Each cache's average vtime, EEVDF's V: the mean of its runnable tasks'
 * vtimes (the vtime each is charged from, not its place in a queue),
 * weighted by their shares. Waking and new tasks are placed, and every
 * task's lag is clamped, against it (clamp_lag()). A task is counted from
 * ops.runnable to ops.quiescent, in the cache it last ran in (ops.running
 * moves it if it changed caches), and its entry follows its vtime and share
 * (avg_sync()). Running tasks are counted at the vtime they started at.
 *
 * Why exact, and why weighted. A cheaper progress that followed the queue's
 * head ratcheted ahead of CPU hogs once heads were ordered by deadline, and
 * a moving average of the vtimes tasks start at trailed the running ones: a
 * boosted probe then lost its lead over the hogs, and a request/response
 * pair preempted each other (evaluation/journal/deadline.md). Unweighted, a
 * cpu.idle cgroup's threads, whose vtimes run hundreds of times faster than
 * anyone's, would drag the average ahead and every other task's lag clamp
 * with it.
 *
 * The sum is kept relative to @base, which each read moves to the average
 * (leaving the remainder of the division in the sum): the sum stays the
 * size of the tasks' spread around the average, not of their absolute
 * vtimes, so it cannot overflow however long the node runs. Weights are
 * shares >> AVG_WEIGHT_SHIFT (at least 1): 1024 for a whole machine. A
 * task's distance from the average is a few of its slices' charge, which
 * shrinks as its share (its weight) grows, so each product stays near
 * slice_ns x 1024, far below 2^63.
 *
 * Cost: a lookup in a small array and a spin lock held for a few
 * instructions, at ops.runnable and ops.quiescent, at each ops.stopping and
 * ops.running whose vtime or share changed, and per placement. The lock is
 * the cache's, taken by its CPUs (and by another cache's when a task that
 * moved leaves it); EEVDF updates its V under the run queue's lock likewise.
 */
#define AVG_WEIGHT_SHIFT	14

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MUS_MAX_LLCS);
	__type(key, u32);
	__type(value, struct llc_avg);
} llc_avgs SEC(".maps");

static struct llc_avg *llc_avg_of(u32 llc)
{
	u32 key = llc & (MUS_MAX_LLCS - 1);

	return bpf_map_lookup_elem(&llc_avgs, &key);
}

/* @sum / @weight rounded toward zero (BPF's division is unsigned). */
static __always_inline s64 sdiv(s64 sum, u64 weight)
{
	return sum < 0 ? -(s64)((u64)-sum / weight) : (s64)((u64)sum / weight);
}

/*
 * Replaces an entry of vtime @old_v, weight @old_w (0: none) by one of
 * vtime @new_v, weight @new_w (0: none) in cache @llc's average.
 */
static void avg_change(u32 llc, u64 old_v, u64 old_w, u64 new_v, u64 new_w)
{
	struct llc_avg *a = llc_avg_of(llc);

	if (!a)
		return;
	bpf_spin_lock(&a->lock);
	a->sum += (s64)new_w * (s64)(new_v - a->base) -
		  (s64)old_w * (s64)(old_v - a->base);
	a->weight += new_w - old_w;
	bpf_spin_unlock(&a->lock);
}

/* Cache @llc's average vtime (the last one while nothing there is runnable). */
__hidden u64 avg_vtime(u32 llc)
{
	struct llc_avg *a = llc_avg_of(llc);
	s64 step;
	u64 v;

	if (!a)
		return 0;
	bpf_spin_lock(&a->lock);
	if (a->weight) {
		step = sdiv(a->sum, a->weight);
		a->base += step;
		a->sum -= step * (s64)a->weight;
	}
	v = a->base;
	bpf_spin_unlock(&a->lock);
	return v;
}

/*
 * The vtime @p is charged from (it may be queued at a deadline or lent
 * place). Both are loaded and one chosen: a conditional load, compiled to
 * one instruction on either pointer, is refused by the verifier.
 */
static u64 charged_vtime(const struct task_struct *p, const struct task_ctx *tctx)
{
	u64 own = tctx->own_vtime, place = p->scx.dsq_vtime;

	return tctx->queued_ahead ? own : place;
}

/* @tctx's weight in an average: its share, scaled down. */
static u64 avg_weight(const struct task_ctx *tctx)
{
	return (tctx->share >> AVG_WEIGHT_SHIFT) ?: 1;
}

/* Counts @p (@tctx its context), which became runnable, in cache @llc's average. */
__hidden void avg_join(struct task_struct *p, struct task_ctx *tctx, u32 llc)
{
	if (tctx->avg_llc)
		return;
	tctx->avg_llc = llc + 1;
	tctx->avg_v = charged_vtime(p, tctx);
	tctx->avg_w = avg_weight(tctx);
	avg_change(llc, 0, 0, tctx->avg_v, tctx->avg_w);
}

/* Takes @tctx's task, which is no longer runnable, out of its cache's average. */
__hidden void avg_leave(struct task_ctx *tctx)
{
	if (!tctx->avg_llc)
		return;
	avg_change(tctx->avg_llc - 1, tctx->avg_v, tctx->avg_w, 0, 0);
	tctx->avg_llc = 0;
}

/*
 * Brings @p's entry up to date with its vtime and share, in cache @llc (the
 * one it runs or is queued in: a task moved between caches, by a steal or an
 * idle CPU elsewhere, gets no ops.quiescent/ops.runnable). Nothing while @p
 * is not runnable (ops.select_cpu places a task before ops.runnable counts
 * it) or when nothing changed.
 */
__hidden void avg_sync(struct task_struct *p, struct task_ctx *tctx, u32 llc)
{
	u64 v = charged_vtime(p, tctx), w = avg_weight(tctx);

	if (!tctx->avg_llc)
		return;
	if (tctx->avg_llc != llc + 1) {
		avg_change(tctx->avg_llc - 1, tctx->avg_v, tctx->avg_w, 0, 0);
		avg_change(llc, 0, 0, v, w);
		tctx->avg_llc = llc + 1;
	} else if (v != tctx->avg_v || w != tctx->avg_w) {
		avg_change(llc, tctx->avg_v, tctx->avg_w, v, w);
	} else {
		return;
	}
	tctx->avg_v = v;
	tctx->avg_w = w;
}

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
 * The one lag clamp: @p's vtime is kept within @behind before and @ahead
 * after the average vtime of cache @llc, where it is queued or runs, and its
 * entry in that average follows.
 */
static void clamp_lag(struct task_struct *p, struct task_ctx *tctx, u32 llc,
		      u64 behind, u64 ahead)
{
	u64 avg = avg_vtime(llc);

	if (time_before(p->scx.dsq_vtime, avg - behind))
		scx_bpf_task_set_dsq_vtime(p, avg - behind);
	else if (time_before(avg + ahead, p->scx.dsq_vtime))
		scx_bpf_task_set_dsq_vtime(p, avg + ahead);
	avg_sync(p, tctx, llc);
}

/*
 * Places a waking @p in the vtime of cache @llc's queue: a task that slept
 * must not come back with a hoard of unused vtime (at most its wake-up
 * credit), nor with more than max_debt_ns of debt.
 */
__hidden void place_waking(struct task_struct *p, struct task_ctx *tctx, u32 llc)
{
	clamp_lag(p, tctx, llc, wake_credit(tctx->boost), max_debt_ns * nr_cpus);
}

/*
 * The vtime @p is charged from: a task queued by its deadline
 * (deadline_key()) or a lent place (rescue_key()) gets its own back once it leaves the queue (it runs, or is
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
	tctx->ran_since_wake += ran;
	stat_add(tctx->boost ? MUS_STAT_RUNTIME_BOOSTED_NS :
			       MUS_STAT_RUNTIME_NORMAL_NS, ran);
	tctx->started_at = now;
}

/*
 * Bounds what a runnable @p that was preempted or used up its slice (queued
 * again, or weighed against the queue's head to keep its CPU) is owed:
 * at most MAX_LAG_SLICES of its slices' charge, at the share it last ran
 * with, behind the average vtime of cache @llc, where it is queued or runs.
 * Its debt is not bounded (2^62 never binds): a task ahead of the average
 * ran more than its share, and waits for it.
 */
__hidden void bound_lag(struct task_struct *p, struct task_ctx *tctx, u32 llc)
{
	clamp_lag(p, tctx, llc, MAX_LAG_SLICES * slice_ns * SHARE_ONE /
				(tctx->share ?: SHARE_ONE), 1ULL << 62);
}

/*
 * The request of @tctx's task, as vtime: what it usually runs between two
 * sleeps (at most slice_ns; slice_ns until it has slept once: a CPU hog's
 * run since it woke grows to it), charged at the share it last ran with,
 * and divided by its boost. The one rule that orders tasks is EEVDF's: by
 * deadline, the vtime a task is charged from plus its request. So a task
 * that runs briefly (a server answering, a timer's thread) goes ahead of
 * CPU hogs of the same vtime, and a boosted one further: being on a CPU
 * at once is what a boost is for, beside the share it multiplies. Shares
 * hold within one request: the request only moves a task in the queue, it
 * is charged from its own vtime (restore_vtime()).
 */
__hidden u64 request(const struct task_ctx *tctx)
{
	u64 run = tctx->burst, r;

	if (run < tctx->ran_since_wake)
		run = tctx->ran_since_wake;
	if (!run || run > slice_ns)
		run = slice_ns;
	r = run * SHARE_ONE / (tctx->share ?: SHARE_ONE);
	if (tctx->boost > MUS_WEIGHT_NORMAL)
		r = r * MUS_WEIGHT_NORMAL / tctx->boost;
	return r;
}

/*
 * The key by which @p (@tctx its context) waits in a queue: its deadline.
 * @p keeps its vtime aside, to be charged from once it leaves the queue.
 */
__hidden u64 deadline_key(struct task_struct *p, struct task_ctx *tctx)
{
	u64 v = p->scx.dsq_vtime;

	tctx->own_vtime = v;
	tctx->queued_ahead = true;
	return v + request(tctx);
}

/* A task joining mus starts at the average vtime of its CPU's cache. */
void BPF_STRUCT_OPS(mus_enable, struct task_struct *p)
{
	scx_bpf_task_set_dsq_vtime(p, avg_vtime(llc_of(scx_bpf_task_cpu(p))));
}
