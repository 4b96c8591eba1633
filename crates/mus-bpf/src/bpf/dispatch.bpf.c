/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Dispatch: what a CPU runs next (keeping prev, its queues' heads, another
 * cache's), and ops.running / ops.stopping, which start and charge a run.
 */
#include "mus.bpf.h"

/*
 * Whether @prev (@tctx its context), whose slice ran out or who was kicked,
 * gives its CPU to @next, owed it by @next_vtime (@next NULL: another
 * cache's head, whose boost is not looked up: weighed as an equal), by the
 * one order (lead_of()). @deadline is @prev's, as lead_over() reckons it for
 * a waker: the later of its vtime and its slice's end; at a slice's natural
 * end the two are one.
 * The exception: a head put there by the starvation rescue goes first (its
 * vtime, lent, is often still behind the running task's, which would
 * otherwise keep its CPU for as long as it stays ahead: the rescue waited
 * for a CPU that never came).
 * Cost: one task storage lookup, at a slice's end only.
 */
static bool gives_way(const struct task_ctx *tctx, u64 deadline,
		      u64 next_vtime, struct task_struct *next, u64 now)
{
	struct task_ctx *ntctx;
	u32 next_boost = tctx->boost;

	if (next) {
		ntctx = task_ctx_of(next);
		/* a rescued head is owed the CPU whatever the vtimes say */
		if (ntctx && ntctx->rescued)
			return true;
		next_boost = ntctx ? ntctx->boost : 0;
	}
	return lead_of(next_vtime, next_boost, deadline, tctx->boost,
		       time_before(now, burst_end(tctx))) > 0;
}

/*
 * Whether @prev may run on at all: it is ours, still runnable, and its
 * cgroup (and every limited ancestor) has cpu.max runtime left or it must not
 * be held back (may_hold_back()). Returns its context then, else NULL.
 */
static struct task_ctx *may_continue(struct task_struct *prev, u64 now)
{
	struct task_ctx *tctx;
	struct cgroup *cgrp;
	u64 due = 0;

	if (!prev || !(prev->scx.flags & SCX_TASK_QUEUED))
		return NULL;
	tctx = lookup_task_ctx(prev);
	if (!tctx || time_before(now, tctx->started_at))
		return NULL;
	if (!nr_bw_cgroups)
		return tctx;
	cgrp = tctx->cgrp;
	if (!cgrp)
		return NULL;
	return quota_left(cgrp, now, &due) > 0 || !may_hold_back(prev, tctx) ?
	       tctx : NULL;
}

/*
 * @prev runs on for another slice: it gets one, its share and boost are
 * brought up to date (a task that keeps its CPU has no ops.running to do
 * it: without this, a hog kept its old share after an unboost or after new
 * siblings appeared until it slept), and pick_victim() weighs it from here,
 * like a task that just started. A kick that did not take the CPU is
 * forgotten, or the CPU would be spared every later waker for as long as
 * @prev runs on, for @slice. Cost: one cgroup storage lookup, at a slice's
 * end only.
 */
static void run_on(struct task_struct *prev, struct task_ctx *tctx,
		   struct cpu_ctx *cctx, u64 slice, u64 now)
{
	struct cgroup *cgrp;
	struct cgrp_ctx *cgc;

	charge_run(prev, tctx, now);
	refresh_task_boost(prev, tctx);
	cgrp = tctx->cgrp;
	if (cgrp && (cgc = cgrp_ctx_of(cgrp)))
		tctx->share = task_share(prev, cgrp, cgc);
	scx_bpf_task_set_slice(prev, slice);
	if (cctx) {
		cctx->vtime = prev->scx.dsq_vtime ?: 1;
		cctx->started_at = now;
		cctx->share = tctx->share;
		cctx->slice = prev->scx.slice;
		cctx->boost = tctx->boost;
		cctx->keeps_until = burst_end(tctx);
		cctx->kicked = false;
	}
}

/*
 * Whether @prev (@tctx its context, NULL if it may not run on), whose slice
 * ran out, should keep its CPU for another slice rather than give it to
 * @next, owed it by @next_vtime (@has_next false: nothing waits that this
 * CPU would take; @next NULL: a task of another cache).
 *
 * The kernel calls ops.dispatch before it puts @prev back in the queue, so the
 * queue's head would always win, even against a @prev with a smaller vtime: a
 * heavy task could never run two slices in a row and, with as many waiting
 * tasks as CPUs, weights would count for little. So compare @prev with the
 * head, once @prev is charged for what it ran (ops.stopping, which comes after
 * this, charges only the rest). Heads are peeked without the queues'
 * locks: if one is dequeued meanwhile, one decision is made on a stale vtime.
 * A head this CPU may not run (affinity, cpuset) is not owed this CPU.
 */
static bool keep_running(struct task_struct *prev, struct task_ctx *tctx,
			 struct cpu_ctx *cctx, s32 cpu, bool has_next,
			 u64 next_vtime, struct task_struct *next, u64 now)
{
	bool kicked = cctx && cctx->kicked, queued = has_next;
	u64 deadline;

	if (!tctx)
		return false;
	if (next && !bpf_cpumask_test_cpu(cpu, next->cpus_ptr))
		has_next = false;
	if (has_next) {
		/*
		 * Charge what it ran so far before bounding its lag: a bound
		 * applied to an uncharged vtime would be applied again to the
		 * same runtime at the next check, and a task kept running for
		 * many slices would be charged far beyond what it ran.
		 */
		charge_run(prev, tctx, now);
		clamp_lag(prev, tctx, llc_of(cpu), false);
		deadline = prev->scx.dsq_vtime;
		if (cctx && cctx->vtime)
			deadline = running_deadline(cctx, deadline);
		if (gives_way(tctx, deadline, next_vtime, next, now))
			return false;
	}
	/*
	 * A kick the order refuses: lead_over() and gives_way() weigh by the
	 * same one (lead_of()), so this counts only the tolerated races (the
	 * CPU switched tasks, or another CPU took the waker, between the kick
	 * and here).
	 */
	if (kicked)
		stat_add(MUS_STAT_KICKS_REFUSED, 1);
	/*
	 * Only a task that stays gets a slice: one that goes back to the queue
	 * with a slice left would be put at the head of the local queue. With
	 * both of this CPU's queues empty it is slice_ns, without the two
	 * queue-length lookups.
	 */
	run_on(prev, tctx, cctx, queued ? task_slice(cpu) : slice_ns, now);
	return true;
}

/*
 * What every dispatch owes the node before it picks a task, on CPU @cpu of
 * cache @llc at @now: throttled tasks whose release is due go back to their
 * queues, the starvation scan runs when it is due, and queue heads over
 * their cpu.max are held back. Each is a load and a compare here, and a
 * call only when it has work: made on every dispatch, the calls alone were
 * 13 % of dispatch's time (evaluation/journal/hotpath.md). The callees check
 * again, atomically, which CPU does the work.
 */
static __always_inline void upkeep(u32 llc, s32 cpu, u64 now)
{
	u64 due = bw_release_at;

	if (due && !time_before(now, due))
		release_throttled(now);
	if (now - last_starvation_scan >= RESCUE_SCAN_NS && rescue_starving(now))
		release_strays(now);
	if (nr_bw_cgroups) {
		throttle_heads(LLC_DSQ(llc), now);
		throttle_heads(CPU_DSQ(cpu), now);
	}
}

/*
 * A CPU serves, in this order: @prev again if no
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

	u64 now = scx_bpf_now();
	struct cpu_ctx *cctx = this_cpu_ctx();
	struct task_ctx *ptctx;

	upkeep(llc, cpu, now);
	ptctx = may_continue(prev, now);

	shared = __COMPAT_scx_bpf_dsq_peek(LLC_DSQ(llc));
	own = __COMPAT_scx_bpf_dsq_peek(CPU_DSQ(cpu));
	own_first = own && (!shared ||
			    time_before(own->scx.dsq_vtime, shared->scx.dsq_vtime));
	has_head = own || shared;
	/* nothing of its own to run, not even @prev */
	idle = !has_head && !(prev && (prev->scx.flags & SCX_TASK_QUEUED));
	if (has_head) {
		head_vtime = own_first ? own->scx.dsq_vtime : shared->scx.dsq_vtime;
		follow_head(llc, head_vtime);
	}
	if (nr_llcs > 1) {
		steal = pick_steal(llc, !has_head, idle, &steal_v);
		if (steal >= 0 && has_head && !time_before(steal_v, head_vtime))
			steal = -1;
	}

	/* no ops.stopping/running in between: keep_running() charged it */
	if (keep_running(prev, ptctx, cctx, cpu, has_head || steal >= 0,
			 steal >= 0 ? steal_v : head_vtime,
			 steal >= 0 ? NULL : own_first ? own : shared, now))
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
	if (nr_llcs > 1 && (scx_bpf_dsq_nr_queued(LLC_DSQ(llc)) ||
			    scx_bpf_dsq_nr_queued(CPU_DSQ(cpu)))) {
		bpf_for(i, 0, nr_llcs) {
			if (i != llc && scx_bpf_dsq_move_to_local(LLC_DSQ(i), 0)) {
				stat_add(MUS_STAT_IDLE_STEALS, 1);
				return;
			}
		}
	}
	/*
	 * Nothing was dispatched although @prev gave way (its head was taken by
	 * another CPU meanwhile, or is one this CPU may not run): @prev runs
	 * on. Without this, under SCX_OPS_ENQ_LAST, @prev would go through
	 * ops.enqueue into the local queue, and from 6.12 on nothing may
	 * reschedule this CPU to run it (a stall). A @prev over its cpu.max is
	 * let go: ops.enqueue holds it back.
	 */
	if (ptctx)
		run_on(prev, ptctx, cctx, task_slice(cpu), now);
}

void BPF_STRUCT_OPS(mus_running, struct task_struct *p)
{
	struct task_ctx *tctx;
	struct cpu_ctx *cctx;
	struct cgroup *cgrp;
	struct cgrp_ctx *cgc;
	u64 now = scx_bpf_now(), slice, due = 0, waiting, *progress;
	s32 cpu = bpf_get_smp_processor_id();
	s64 left;
	u32 llc = llc_of(cpu);

	/*
	 * While nothing waits, the cache's progress follows the running tasks,
	 * but by at most one slice per switch: a task far ahead of the others
	 * that runs out of order (a wake-up on an idle CPU) must not drag
	 * everyone's wake-up credit along and so erase its own debt.
	 */
	waiting = scx_bpf_dsq_nr_queued(LLC_DSQ(llc));
	progress = progress_of(llc);
	if (!waiting && time_before(*progress, p->scx.dsq_vtime))
		*progress = time_before(p->scx.dsq_vtime, *progress + slice_ns) ?
			    p->scx.dsq_vtime : *progress + slice_ns;

	tctx = lookup_task_ctx(p);
	if (!tctx)
		return;
	restore_vtime(p, tctx);
	refresh_task_boost(p, tctx);
	tctx->started_at = now;
	tctx->bw_charged_exec = p->se.sum_exec_runtime ?: 1;
	tctx->share = SHARE_ONE;
	if (tctx->last_llc && tctx->last_llc != llc + 1)
		stat_add(MUS_STAT_LLC_MIGRATIONS, 1);
	tctx->last_llc = llc + 1;

	slice = slice_for(llc, waiting + scx_bpf_dsq_nr_queued(CPU_DSQ(cpu)));
	cgrp = tctx->cgrp;
	if (cgrp) {
		cgc = cgrp_ctx_of(cgrp);
		if (cgc)
			tctx->share = task_share(p, cgrp, cgc);
		/*
		 * Don't run past the cgroup's cpu.max runtime: the cgroup's
		 * other threads may use it on other CPUs meanwhile, so take a
		 * CPU's part of what is left (each CPU's overshoot then shrinks
		 * geometrically). A task that finds none left (its cgroup's
		 * other threads used it since it was queued) is preempted at
		 * once rather than given a slice: ops.enqueue then holds it
		 * back. Before, it ran at least 100 us and, slices ending on
		 * ticks, up to a tick: 32 threads under 0.1 CPU used 1.75 CPUs.
		 * One that must not be held back yet (dying, or maybe in a
		 * system call: may_hold_back()) gets the shortest slice,
		 * charged as debt.
		 */
		wait_end(tctx, cgrp, now);
		left = quota_left(cgrp, now, &due);
		if (left <= 0 && !tctx->rescued && may_hold_back(p, tctx)) {
			scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
			slice = 0;
		} else if (left <= 0) {
			if (slice > slice_min_ns)
				slice = slice_min_ns;
		} else {
			tctx->bw_grace_end = 0;
			if (left != S64_MAX && (u64)left / nr_cpus < slice)
				slice = (u64)left / nr_cpus ?: 1;
		}
	}
	/*
	 * A rescued task makes progress without bending shares further; over
	 * its cpu.max, this run is all it gets, in a system call or not (no
	 * grace, may_hold_back()): with a slice's grace after each rescue, 32
	 * dd under 0.1 CPU took 1.2-1.5x their quota.
	 */
	if (tctx->rescued) {
		tctx->rescued = false;
		tctx->bw_grace_end = p->se.sum_exec_runtime ?: 1;
		if (slice > slice_min_ns)
			slice = slice_min_ns;
	}
	if (slice < slice_ns)
		stat_add(MUS_STAT_SHORT_SLICES, 1);
	scx_bpf_task_set_slice(p, slice);

	stat_add(tctx->boost ? MUS_STAT_RUN_BOOSTED : MUS_STAT_RUN_NORMAL, 1);
	cctx = this_cpu_ctx();
	if (cctx) {
		cctx->vtime = p->scx.dsq_vtime ?: 1;
		cctx->started_at = now;
		cctx->share = tctx->share;
		cctx->slice = slice;
		cctx->cgid = tctx->cgid;
		cctx->boost = tctx->boost;
		cctx->keeps_until = burst_end(tctx);
		cctx->kicked = false;
	}
}

void BPF_STRUCT_OPS(mus_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	struct cgroup *cgrp;
	struct cpu_ctx *cctx;
	u64 now = scx_bpf_now(), due = 0;

	/* nothing of ours runs here until the next ops.running */
	cctx = this_cpu_ctx();
	if (cctx)
		cctx->vtime = 0;

	if (!tctx)
		return;
	cgrp = tctx->cgrp;
	if (tctx->started_at && !time_before(now, tctx->started_at)) {
		charge_run(p, tctx, now);
		tctx->stopped_at = now;
		tctx->started_at = 0;
		if (cgrp)
			charge_quota(p, tctx, cgrp, now, &due);
	}
	/* preempted, or its slice ended: it waits again */
	if (runnable && wait_histograms)
		wait_begin(p, tctx, cgrp ? cgrp_ctx_of(cgrp) : NULL);
}
