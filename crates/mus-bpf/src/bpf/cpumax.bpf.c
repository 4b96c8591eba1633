/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cpu.max: quotas charged as tasks run, tasks held back in THROTTLED_DSQ
 * while their cgroup (or an ancestor) has none left, and their release.
 *
 * The model is the fair class's: each limited cgroup has a runtime balance,
 * refilled by its quota once per period up to one quota (cpu.max.burst is
 * not honoured), charged with what its tasks run on every CPU. The balance
 * may go negative: slices end on ticks, so a CPU overruns by up to a tick,
 * and that debt is carried: the cgroup's tasks are held back for as many
 * periods as it takes to repay it, so the limit holds on average whatever
 * the number of threads. A throttled task is released only when its cgroup
 * and every limited ancestor have runtime again. Each cgroup's periods start
 * when its limit was set, so pods' releases are staggered as the kernel
 * staggers its period timers, rather than all at one instant.
 *
 * Why not scx's lib/cgroup_bw (scx_lavd's): it keeps per-cgroup queues of
 * throttled tasks in a BPF arena, distributes runtime to per-CPU budgets
 * and re-enqueues through its own callback protocol; mus has one throttled
 * queue, releases from ops.dispatch, and needs only a balance per cgroup
 * and a refill time. The balance is updated lazily (at a charge or a check)
 * so no per-cgroup timer runs; one timer wakes a CPU when throttled tasks
 * are due and every CPU is idle.
 *
 * Cost: nothing while no cgroup has a limit; while some has, a task whose
 * cgroup path has none pays one cached flag check per callback (bw_gen),
 * and a task under a limit O(depth) per charge and check.
 */
#include "mus.bpf.h"

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
 * cgroups with a quota; the earliest time throttled tasks are due (0: none
 * waits); bumped on every cpu.max change, so that each cgroup's cached
 * "some ancestor is limited" flag is recomputed.
 */
private(MUS_BW) u64 nr_bw_cgroups;
private(MUS_BW) u64 bw_release_at;
private(MUS_BW) u64 bw_gen = 1;

/* How many times a refill retries its update against concurrent charges. */
#define REFILL_RETRIES		4

/*
 * Adds the quotas of the periods that ended by @now to @cgc's balance, up to
 * one quota. One CPU wins the refill of a period (the compare-and-swap on
 * bw_refill_at); its update of the balance retries against concurrent
 * charges. Tolerated race: if every retry loses, the balance keeps up to one
 * quota too much for one period (a charge lands between read and write).
 */
static void refill(struct cgrp_ctx *cgc, u64 now)
{
	u64 at = cgc->bw_refill_at, period = cgc->period_ns, quota = cgc->quota_ns;
	u64 periods;
	s64 cur, next;
	int i;

	if (!period || time_before(now, at))
		return;
	periods = (now - at) / period + 1;
	if (__sync_val_compare_and_swap(&cgc->bw_refill_at, at,
					at + periods * period) != at)
		return;
	bpf_for(i, 0, REFILL_RETRIES) {
		cur = cgc->bw_runtime;
		next = cur + (s64)(periods * quota);
		if (next > (s64)quota)
			next = quota;
		if (__sync_val_compare_and_swap(&cgc->bw_runtime, cur, next) == cur)
			break;
	}
}

/*
 * When a cgroup owing @cgc->bw_runtime (<= 0) has runtime again: the refill
 * that brings the balance above zero, periods away if the debt is larger
 * than a quota.
 */
static u64 repaid_at(const struct cgrp_ctx *cgc)
{
	u64 debt = -cgc->bw_runtime;

	return cgc->bw_refill_at + debt / cgc->quota_ns * cgc->period_ns;
}

/*
 * The one walk over @cgrp's path (below the root, @cgrp included) that every
 * quota operation makes, visiting the cgroups with a limit: each is refilled
 * up to @now and charged @ran. Returns the least runtime left over them
 * (S64_MAX: none is limited) and, when that is none (<= 0), sets @due to when
 * every one of them has runtime again. With @now 0 it only tells whether one
 * is limited (1 at the first, S64_MAX if none), touching nothing. O(depth).
 */
static s64 walk_limits(struct cgroup *cgrp, u64 now, u64 ran, u64 *due)
{
	s64 least = S64_MAX;
	u64 latest = 0;
	int level;

	bpf_for(level, 1, MUS_MAX_CGROUP_DEPTH) {
		struct cgrp_ctx *acgc;
		s64 left;

		if (level > cgrp->level)
			break;
		acgc = ancestor_ctx(cgrp, level);
		if (!acgc)
			break;
		if (!acgc->quota_ns)
			continue;
		if (!now)
			return 1;
		refill(acgc, now);
		if (ran)
			__sync_fetch_and_sub(&acgc->bw_runtime, ran);
		left = acgc->bw_runtime;
		if (left < least)
			least = left;
		if (left <= 0 && time_before(latest, repaid_at(acgc)))
			latest = repaid_at(acgc);
	}
	if (least <= 0)
		*due = latest;
	return least;
}

/*
 * Whether @cgrp is in a limited subtree (it or an ancestor has a limit),
 * cached in @cgc until a cpu.max changes anywhere (bw_gen), so that the many
 * cgroups with no limit on their path skip the walk while some other cgroup
 * has one: one flag check.
 */
static bool path_limited(struct cgroup *cgrp, struct cgrp_ctx *cgc)
{
	u64 gen = bw_gen, due = 0;

	if (cgc->bw_path_gen != gen) {
		cgc->bw_path_limited = walk_limits(cgrp, 0, 0, &due) != S64_MAX;
		cgc->bw_path_gen = gen;
	}
	return cgc->bw_path_limited;
}

/*
 * Charges @ran (0: nothing) to @cgrp and each limited ancestor, and returns
 * the least runtime left over them, each refilled up to @now (S64_MAX: no
 * limit on the path); when that is none (<= 0), @due is set to when every
 * one of them has runtime again. O(depth) in a limited subtree, O(1) (one
 * storage lookup and a flag) otherwise.
 */
static s64 quota_walk(struct cgroup *cgrp, u64 now, u64 ran, u64 *due)
{
	struct cgrp_ctx *cgc;

	if (!nr_bw_cgroups || !(cgc = cgrp_ctx_of(cgrp)) ||
	    !path_limited(cgrp, cgc))
		return S64_MAX;
	return walk_limits(cgrp, now ?: 1, ran, due);
}

/* The least runtime left over @cgrp's limited path; see quota_walk(). */
__hidden s64 quota_left(struct cgroup *cgrp, u64 now, u64 *due)
{
	return quota_walk(cgrp, now, 0, due);
}

/*
 * Charges what @p (@tctx its context) ran since it was last charged to @cgrp
 * and each limited ancestor, and returns the least runtime left after it
 * (quota_walk()). Called on every tick as well as when @p stops, so that a
 * task that keeps its CPU slice after slice is charged as it goes. What it
 * ran is the kernel's own count, se.sum_exec_runtime (brought up to date
 * before ops.tick and ops.stopping), which is what cpu.stat reports and the
 * fair class throttles by. Charged as the difference of scx_bpf_now()
 * stamps, 32 threads under 0.1 CPU got 0.91-0.96x their quota (which stamps
 * disagree with the kernel's was not isolated); charged by its count,
 * 0.99-1.01x (evaluation/journal/limits.md).
 */
__hidden s64 charge_quota(struct task_struct *p, struct task_ctx *tctx,
			  struct cgroup *cgrp, u64 now, u64 *due)
{
	u64 exec = p->se.sum_exec_runtime, ran = 0;

	if (!nr_bw_cgroups)
		return S64_MAX;
	/* 0: not started under mus; its past is not charged */
	if (tctx->bw_charged_exec && exec > tctx->bw_charged_exec) {
		ran = exec - tctx->bw_charged_exec;
		tctx->bw_charged_exec = exec;
	}
	return quota_walk(cgrp, now, ran, due);
}

/* Arms the timer that wakes a CPU at @at, unless it is armed for earlier. */
__hidden void release_due(u64 at)
{
	u64 due = bw_release_at, now = scx_bpf_now();
	struct bw_timer *t;
	u32 zero = 0;

	at = at ?: 1; /* 0 means that nothing is due */
	if (due && !time_before(at, due))
		return;
	/* tolerated race: a lost update releases a task one period late at worst */
	bw_release_at = at;
	t = bpf_map_lookup_elem(&bw_timer_state, &zero);
	if (t)
		bpf_timer_start(&t->timer, time_before(now, at) ? at - now : 0, 0);
}

/*
 * When a throttled task must run whatever its cgroup's runtime: once it has
 * waited RESCUE_ALWAYS_NS by the watchdog's clock (waiting_since()). A
 * cgroup with more threads than its quota can serve in that time could
 * otherwise leave one of them throttled past the watchdog timeout: such a
 * task runs one short slice (slice_min_ns, the rescue's, which ends on the
 * next tick), charged to its cgroup as debt. So the limit holds on average
 * while the quota exceeds threads x a tick per RESCUE_ALWAYS_NS (0.07 CPU
 * for 32 threads with the defaults and HZ 250); beyond that the rescues
 * alone are the cgroup's floor.
 */
static u64 must_run_by(const struct task_ctx *tctx)
{
	return waiting_since(tctx) + RESCUE_ALWAYS_NS;
}

/* The earlier of @a and @b, as times. */
static u64 earlier(u64 a, u64 b)
{
	return time_before(a, b) ? a : b;
}

/*
 * Holds @p back in THROTTLED_DSQ if its cgroup or a limited ancestor has no
 * runtime left, until it has; returns whether it did.
 */
__hidden bool try_throttle(struct task_struct *p, struct task_ctx *tctx,
			   u64 enq_flags)
{
	struct cgroup *cgrp;
	u64 now, due = 0;

	if (!nr_bw_cgroups || !(cgrp = tctx->cgrp))
		return false;
	now = scx_bpf_now();
	if (quota_left(cgrp, now, &due) > 0 || !may_hold_back(p, tctx))
		return false;
	tctx->throttled_until = due;
	tctx->bw_grace_end = 0;
	scx_bpf_dsq_insert(p, THROTTLED_DSQ, slice_ns, enq_flags);
	wait_throttled(tctx, now);
	stat_add(MUS_STAT_THROTTLED, 1);
	release_due(earlier(due, must_run_by(tctx)));
	return true;
}

/*
 * Whether the throttled @p (its context @tctx) may run again at @now: its
 * cgroup (the one it is counted in) and every limited ancestor have runtime,
 * or the limit went, or it must run (must_run_by(): then it runs as a rescued
 * task). If not, its due time moves to the next repayment.
 */
static bool may_release(struct task_ctx *tctx, u64 now)
{
	struct cgroup *cgrp;
	u64 due = 0;

	if (!time_before(now, must_run_by(tctx))) {
		tctx->rescued = true;
		stat_add(MUS_STAT_STARVATION_RESCUES, 1);
		stat_add(MUS_STAT_LATE_RESCUES, 1);
		return true;
	}
	if (time_before(now, tctx->throttled_until))
		return false;
	cgrp = tctx->cgrp;
	if (!cgrp || quota_left(cgrp, now, &due) > 0)
		return true;
	tctx->throttled_until = due;
	return false;
}

/*
 * How many tasks of cgroups out of runtime one dispatch moves from the head
 * of a queue to THROTTLED_DSQ; a head beyond that still runs, and ops.running
 * preempts it at once.
 */
#define HEAD_THROTTLE_MAX	8

/*
 * Moves the heads of @dsq whose cgroup (or a limited ancestor) has no cpu.max
 * runtime left to THROTTLED_DSQ, so that a CPU does not start them. They were
 * queued while it had some; when it ran out, its other threads on other CPUs
 * used it up. Started anyway, each ran until its preemption took effect, and
 * 32 threads under 0.1 CPU used 0.18 CPU. Called by every dispatch while
 * some cgroup has a limit (upkeep()): one quota check, for the head that then
 * runs.
 * A global function (scalar arguments only), so that the verifier checks it
 * once rather than at each call: inlined with release_throttled(), mus's
 * dispatch took 11x the instructions to verify (verifier-baseline/).
 */
__attribute__((noinline))
int throttle_heads(u64 dsq, u64 now)
{
	struct task_struct *p;
	int n = 0;

	bpf_for_each(scx_dsq, p, dsq, 0) {
		struct task_ctx *tctx = task_ctx_of(p);
		struct cgroup *cgrp;
		u64 due = 0;

		if (!tctx || tctx->rescued || n >= HEAD_THROTTLE_MAX ||
		    !(cgrp = tctx->cgrp) || quota_left(cgrp, now, &due) > 0 ||
		    !may_hold_back(p, tctx))
			break;
		tctx->throttled_until = due;
		tctx->bw_grace_end = 0;
		/* held back, not queued: a requeue while held must not count it */
		tctx->enqueued_at = 0;
		if (scx_bpf_dsq_move(BPF_FOR_EACH_ITER, p, THROTTLED_DSQ, 0)) {
			wait_throttled(tctx, now);
			stat_add(MUS_STAT_THROTTLED, 1);
			release_due(earlier(due, must_run_by(tctx)));
		}
		n++;
	}
	return 0;
}

/*
 * Moves the throttled tasks that may run again at @now back to their queues
 * (and kicks an idle CPU for each). Called by ops.dispatch (upkeep()) when a
 * release is due (bw_release_at), and only then: every throttle sets one
 * (release_due()), and so does a limit that is removed or changed, so that
 * tasks held back under it are released at once. O(throttled tasks) then.
 * Tolerated race: a task throttled by ops.enqueue on another CPU is inserted
 * only after that callback returns, so a pass that began meanwhile may miss
 * it and set no release for it; release_strays(), run with the starvation
 * scan, sets one for now whenever tasks are throttled and none is set, so
 * such a task waits at most RESCUE_SCAN_NS longer. (Before, every dispatch
 * read the queue's length, a kfunc, for this.) Global, as throttle_heads()
 * is.
 */
__attribute__((noinline))
int release_throttled(u64 now)
{
	u64 due = bw_release_at, next = 0;
	struct task_struct *p;

	if (!due || time_before(now, due))
		return 0;
	if (__sync_val_compare_and_swap(&bw_release_at, due, 0) != due)
		return 0;
	bpf_for_each(scx_dsq, p, THROTTLED_DSQ, 0) {
		struct task_ctx *tctx = task_ctx_of(p);
		u64 dsq;
		s32 cpu;

		if (tctx && !may_release(tctx, now)) {
			u64 at = earlier(tctx->throttled_until, must_run_by(tctx));

			if (!next || time_before(at, next))
				next = at;
			continue;
		}
		cpu = scx_bpf_task_cpu(p);
		dsq = task_dsq(p, cpu);
		scx_bpf_dsq_move_set_vtime(BPF_FOR_EACH_ITER,
					   tctx && tctx->rescued ?
					   rescue_key(p, tctx, dsq) : p->scx.dsq_vtime);
		if (scx_bpf_dsq_move_vtime(BPF_FOR_EACH_ITER, p, dsq, 0)) {
			if (tctx) {
				/* queued from now on (rescue_from()) */
				tctx->enqueued_at = now;
				wait_released(tctx, now);
			}
			cpu = pick_idle_near(p, cpu, true);
			if (cpu >= 0)
				scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		}
	}
	if (next)
		release_due(next);
	return 0;
}

/*
 * Backs up release_throttled(): throttled tasks with no release set (the
 * race it tolerates) get one for now. Called by the CPU that ran the
 * starvation scan, at most every RESCUE_SCAN_NS; one kfunc.
 */
__hidden void release_strays(u64 now)
{
	if (!bw_release_at && scx_bpf_dsq_nr_queued(THROTTLED_DSQ))
		release_due(now);
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
 * Called on every tick for the running task, only to charge cpu.max quotas
 * as the task runs: a task whose cgroup has no runtime left stops now (its
 * slice was shortened to the runtime left when it started, but the cgroup's
 * other threads use the same runtime meanwhile), unless it may not be held
 * back yet (may_hold_back()): then at a later tick.
 */
void BPF_STRUCT_OPS(mus_tick, struct task_struct *p)
{
	struct task_ctx *tctx;
	struct cgroup *cgrp;
	u64 due = 0, now;

	if (!nr_bw_cgroups || !(tctx = lookup_task_ctx(p)) || !(cgrp = tctx->cgrp))
		return;
	now = scx_bpf_now();
	if (charge_quota(p, tctx, cgrp, now, &due) <= 0 && may_hold_back(p, tctx))
		scx_bpf_task_set_slice(p, 0);
}

/*
 * Sets @cgc's cpu.max; a quota of U64_MAX (the kernel's "max") is no limit.
 * A new limit starts with a full quota and its periods from now; a changed
 * one keeps its balance (up to the new quota) and, if its period is the same,
 * its periods. A removed limit releases its throttled tasks at once.
 */
__hidden void set_bandwidth(struct cgrp_ctx *cgc, u64 period_us, u64 quota_us)
{
	bool had = cgc->quota_ns;
	bool has = quota_us && quota_us != (u64)-1 && period_us;
	u64 now = scx_bpf_now(), period = period_us * NSEC_PER_USEC;
	u64 quota = quota_us * NSEC_PER_USEC;

	if (has) {
		if (!had || cgc->period_ns != period)
			cgc->bw_refill_at = now + period;
		if (!had || cgc->bw_runtime > (s64)quota)
			cgc->bw_runtime = quota;
		cgc->period_ns = period;
		cgc->quota_ns = quota;
	} else {
		cgc->quota_ns = 0;
		cgc->period_ns = 0;
	}
	if (has && !had)
		__sync_fetch_and_add(&nr_bw_cgroups, 1);
	else if (!has && had)
		__sync_fetch_and_sub(&nr_bw_cgroups, 1);
	__sync_fetch_and_add(&bw_gen, 1);
	if (had)
		release_due(now);
}

void BPF_STRUCT_OPS(mus_cgroup_set_bandwidth, struct cgroup *cgrp,
		    u64 period_us, u64 quota_us, u64 burst_us)
{
	struct cgrp_ctx *cgc = cgrp_ctx_of(cgrp);

	if (cgc)
		set_bandwidth(cgc, period_us, quota_us);
}

/* Sets up the timer that wakes a CPU when throttled tasks are due. */
__hidden s32 init_bw_timer(void)
{
	u32 zero = 0;
	struct bw_timer *bw = bpf_map_lookup_elem(&bw_timer_state, &zero);
	s32 ret;

	if (!bw)
		return -ENOENT;
	ret = bpf_timer_init(&bw->timer, &bw_timer_state, CLOCK_MONOTONIC);
	if (ret)
		return ret;
	return bpf_timer_set_callback(&bw->timer, bw_timer_fn);
}
