/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cpu.max: quotas charged as tasks run, tasks held back in THROTTLED_DSQ
 * while their cgroup (or an ancestor) has none left, and their release.
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

/* cpu.max: cgroups with a quota, and the earliest time throttled tasks are due. */
private(MUS_BW) u64 nr_bw_cgroups;
private(MUS_BW) u64 bw_release_at;

/*
 * cpu.max. Periods are aligned to multiples of the period on the monotonic
 * clock, so that one timer serves every cgroup with the default period.
 * Burst (cpu.max.burst) is not honoured.
 */

/*
 * What @cgc has used of period @idx. Slices end on ticks, so a cgroup can
 * overrun its quota by up to a tick per CPU; the overrun is carried into the
 * next period (as the fair class carries negative runtime), so that the
 * average holds the limit.
 */
static u64 period_used(const struct cgrp_ctx *cgc, u64 idx)
{
	u64 used = cgc->bw_used;

	if (cgc->bw_idx == idx)
		return used;
	if (cgc->bw_idx + 1 == idx && used > cgc->quota_ns)
		return used - cgc->quota_ns;
	return 0;
}

/* How much of @cgc's quota is left in the current period (U64_MAX: no limit). */
static u64 quota_left(struct cgrp_ctx *cgc, u64 now)
{
	u64 used;

	if (!cgc->quota_ns || !cgc->period_ns)
		return (u64)-1;
	used = period_used(cgc, now / cgc->period_ns);
	return used >= cgc->quota_ns ? 0 : cgc->quota_ns - used;
}

/*
 * The least quota left over @cgrp and its ancestors, and the end of the
 * period of the one that has least. O(depth), and skipped entirely while no
 * cgroup has a quota.
 */
__hidden u64 subtree_quota_left(struct cgroup *cgrp, u64 now, u64 *period_end)
{
	u64 least = (u64)-1;
	int level;

	if (!nr_bw_cgroups)
		return least;
	bpf_for(level, 1, MUS_MAX_CGROUP_DEPTH) {
		struct cgrp_ctx *cgc;
		u64 left;

		if (level > cgrp->level)
			break;
		cgc = ancestor_ctx(cgrp, level);
		if (!cgc)
			break;
		left = quota_left(cgc, now);
		if (left < least) {
			least = left;
			*period_end = (now / cgc->period_ns + 1) * cgc->period_ns;
		}
	}
	return least;
}

/*
 * Charges what @p ran since it was last charged to the quota of @cgrp and of
 * each ancestor that has one. Called on every tick as well as when @p stops,
 * so that a task that keeps its CPU slice after slice is charged as it goes.
 */
__hidden void charge_quota(struct task_ctx *tctx, struct cgroup *cgrp, u64 now)
{
	u64 ran = now - tctx->bw_charged_at;
	int level;

	if (!nr_bw_cgroups || !tctx->bw_charged_at ||
	    time_before(now, tctx->bw_charged_at))
		return;
	tctx->bw_charged_at = now;
	bpf_for(level, 1, MUS_MAX_CGROUP_DEPTH) {
		struct cgrp_ctx *cgc;
		u64 idx;

		if (level > cgrp->level)
			break;
		cgc = ancestor_ctx(cgrp, level);
		if (!cgc)
			break;
		if (!cgc->quota_ns || !cgc->period_ns)
			continue;
		idx = now / cgc->period_ns;
		/*
		 * Tolerated race: two CPUs starting a new period at once may
		 * both roll it over, losing one charge of at most a tick.
		 */
		if (cgc->bw_idx != idx) {
			cgc->bw_used = period_used(cgc, idx);
			cgc->bw_idx = idx;
		}
		__sync_fetch_and_add(&cgc->bw_used, ran);
	}
}

/* Holds @p back until @until, the end of its cgroup's period. */
static void throttle(struct task_struct *p, struct task_ctx *tctx, u64 until,
		     u64 enq_flags)
{
	u64 due = bw_release_at;
	u32 zero = 0;
	struct bw_timer *t;

	tctx->throttled_until = until;
	scx_bpf_dsq_insert(p, THROTTLED_DSQ, slice_ns, enq_flags);
	stat_add(MUS_STAT_THROTTLED, 1);
	if (due && !time_before(until, due))
		return;
	/* tolerated race: a lost update releases a task one period late at worst */
	bw_release_at = until;
	t = bpf_map_lookup_elem(&bw_timer_state, &zero);
	if (t)
		bpf_timer_start(&t->timer, until - scx_bpf_now(), 0);
}

/* Whether @p's cgroup (or an ancestor) used its quota: then @p is held back. */
__hidden bool try_throttle(struct task_struct *p, struct task_ctx *tctx,
			 u64 enq_flags)
{
	struct cgroup *cgrp;
	u64 now, until = 0;
	bool over;

	if (!nr_bw_cgroups)
		return false;
	now = scx_bpf_now();
	cgrp = scx_bpf_task_cgroup(p);
	if (!cgrp)
		return false;
	over = !subtree_quota_left(cgrp, now, &until);
	bpf_cgroup_release(cgrp);
	if (over)
		throttle(p, tctx, until, enq_flags);
	return over;
}

/*
 * Moves the throttled tasks whose period ended back to their queues.
 * Called from ops.dispatch (a context where tasks may move between queues);
 * O(throttled tasks), and only once a period ended.
 */
__hidden void release_throttled(void)
{
	u64 now = scx_bpf_now(), due = bw_release_at, next = 0;
	struct task_struct *p;

	if (!due || time_before(now, due))
		return;
	if (__sync_val_compare_and_swap(&bw_release_at, due, 0) != due)
		return;
	bpf_for_each(scx_dsq, p, THROTTLED_DSQ, 0) {
		struct task_ctx *tctx = task_ctx_of(p);

		if (tctx && time_before(now, tctx->throttled_until)) {
			if (!next || time_before(tctx->throttled_until, next))
				next = tctx->throttled_until;
			continue;
		}
		s32 cpu = scx_bpf_task_cpu(p);

		scx_bpf_dsq_move_set_vtime(BPF_FOR_EACH_ITER, p->scx.dsq_vtime);
		if (scx_bpf_dsq_move_vtime(BPF_FOR_EACH_ITER, p, task_dsq(p, cpu), 0)) {
			cpu = pick_idle_near(p, cpu, true);

			if (cpu >= 0)
				scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		}
	}
	if (next)
		__sync_val_compare_and_swap(&bw_release_at, 0, next);
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
 * as the task runs: a task whose cgroup used up its quota stops now (its
 * slice was shortened to the quota left when it started, but the cgroup's
 * other threads use the same quota meanwhile).
 */
void BPF_STRUCT_OPS(mus_tick, struct task_struct *p)
{
	struct task_ctx *tctx;
	struct cgroup *cgrp;
	u64 until = 0, now;

	if (!nr_bw_cgroups || !(tctx = lookup_task_ctx(p)))
		return;
	cgrp = scx_bpf_task_cgroup(p);
	if (!cgrp)
		return;
	now = scx_bpf_now();
	charge_quota(tctx, cgrp, now);
	if (!subtree_quota_left(cgrp, now, &until))
		p->scx.slice = 0;
	bpf_cgroup_release(cgrp);
}

/* Sets @cgc's cpu.max; a quota of U64_MAX (the kernel's "max") is no limit. */
__hidden void set_bandwidth(struct cgrp_ctx *cgc, u64 period_us, u64 quota_us)
{
	bool had = cgc->quota_ns;
	bool has = quota_us && quota_us != (u64)-1 && period_us;

	cgc->period_ns = period_us * NSEC_PER_USEC;
	cgc->quota_ns = has ? quota_us * NSEC_PER_USEC : 0;
	if (has && !had)
		__sync_fetch_and_add(&nr_bw_cgroups, 1);
	else if (!has && had)
		__sync_fetch_and_sub(&nr_bw_cgroups, 1);
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
