/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cgroup tree and the shares: each cgroup's weight among its siblings
 * (cpu.weight, cpu.idle, its boost), the runnable counts that make a cgroup
 * active, the flattened hierarchical share a task is charged by (see "How"
 * in main.bpf.c), and the periodic scan that notices map writes.
 */
#include "mus.bpf.h"

/*
 * cgroup ID -> weight. Pinned by mus-runner, written by mus-agent and bpftool.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MUS_MAP_MAX_ENTRIES);
	__type(key, u64);
	__type(value, struct mus_cgroup_prio);
} high_prio_cgroups SEC(".maps");


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

/* Bumped when any cgroup's contribution changes: cached shares expire. */
private(MUS_HWGEN) u64 hweight_gen = 1;

/*
 * Bumped by the map scan whenever high_prio_cgroups changed (and when a
 * cgroup's cpu.idle changes): boosts are resolved again.
 */
private(MUS_MAPGEN) u64 map_gen = 1;


/* An entry's weight as the scheduler honours it; see struct mus_cgroup_prio. */
static u32 entry_weight(const struct mus_cgroup_prio *prio)
{
	if (!prio->weight)
		return default_high_weight;
	return prio->weight > MUS_WEIGHT_MAX ? MUS_WEIGHT_MAX : prio->weight;
}

/*
 * @cgc's weight among its siblings: cpu.weight times its boost, or the idle
 * weight under cpu.idle (an operator's boost wins over cpu.idle). Never 0.
 */
static u64 cgrp_weight_in_parent(const struct cgrp_ctx *cgc)
{
	u64 w;

	if (cgc->boost)
		return ((u64)cgc->weight * cgc->boost / MUS_WEIGHT_NORMAL) ?: 1;
	if (cgc->idle)
		return CGROUP_WEIGHT_IDLE;
	w = cgc->weight;
	return w ?: CGROUP_WEIGHT_DFL;
}

/*
 * Brings @cgc's contribution to its parent @pcgc in line with whether @cgc is
 * active (has runnable tasks or active children) and with its current
 * weight. It reads the truth rather than applying a delta, so calls racing
 * with each other in any order converge: the last one sees the last change.
 * Returns whether anything changed (the caller then looks one level up).
 */
static bool sync_contribution(struct cgrp_ctx *cgc, struct cgrp_ctx *pcgc)
{
	bool changed = false;
	u64 target;

	bpf_spin_lock(&pcgc->lock);
	target = (cgc->nr_tasks > 0 || cgc->nr_active_children > 0) ?
		 cgc->weight_in_parent : 0;
	if (target != cgc->contributed) {
		pcgc->child_wsum += target - cgc->contributed;
		if (!cgc->contributed)
			pcgc->nr_active_children++;
		else if (!target)
			pcgc->nr_active_children--;
		cgc->contributed = target;
		changed = true;
	}
	bpf_spin_unlock(&pcgc->lock);
	return changed;
}

/*
 * Propagates a change of @cgrp's activity or weight towards the root, level
 * by level, until a level where nothing changed.
 */
static void propagate(struct cgroup *cgrp)
{
	struct cgrp_ctx *cgc, *pcgc;
	int level = cgrp->level, i;

	/* even the root's own tasks coming and going change its children's shares */
	__sync_fetch_and_add(&hweight_gen, 1);
	if (!level)
		return;
	cgc = ancestor_ctx(cgrp, level);
	bpf_for(i, 0, MUS_MAX_CGROUP_DEPTH) {
		if (!cgc || level - i <= 0)
			break;
		pcgc = ancestor_ctx(cgrp, level - i - 1);
		if (!pcgc || !sync_contribution(cgc, pcgc))
			break;
		cgc = pcgc;
	}
}

/*
 * Resolves @cgrp's own map entry again if the map changed since, and
 * returns whether its weight among its siblings changed.
 */
static bool refresh_boost(struct cgroup *cgrp, struct cgrp_ctx *cgc)
{
	struct mus_cgroup_prio *prio;
	u64 gen = map_gen, id, w;

	if (cgc->boost_gen == gen)
		return false;
	cgc->boost_gen = gen;
	id = cgrp->kn->id;
	prio = bpf_map_lookup_elem(&high_prio_cgroups, &id);
	cgc->boost = prio ? entry_weight(prio) : 0;
	w = cgrp_weight_in_parent(cgc);
	if (w == cgc->weight_in_parent)
		return false;
	cgc->weight_in_parent = w;
	return true;
}

/*
 * @cgrp's share of the machine, SHARE_ONE being all of it. Cached until the
 * tree changes (hweight_gen); recomputed from the root down, refreshing each
 * ancestor's boost on the way. A cgroup that is not active yet is counted as
 * if it had just joined its siblings.
 *
 * Tolerated race: the sums are read without their lock, so a concurrent
 * activation can make one computation use a sum from before it; that
 * activation bumped hweight_gen, so the next charge recomputes.
 */
static u64 cgrp_hweight(struct cgroup *cgrp, struct cgrp_ctx *cgc)
{
	struct cgrp_ctx *pcgc, *acgc;
	u64 gen = hweight_gen, hw = SHARE_ONE;
	bool reweighted = false;
	int level;

	if (cgc->hweight_gen == gen)
		return cgc->hweight;

	stat_add(MUS_STAT_WEIGHT_REFRESH, 1);
	pcgc = ancestor_ctx(cgrp, 0);
	bpf_for(level, 1, MUS_MAX_CGROUP_DEPTH) {
		struct cgroup *anc;
		u64 contrib, sum;

		if (!pcgc || level > cgrp->level)
			break;
		anc = bpf_cgroup_ancestor(cgrp, level);
		if (!anc)
			break;
		acgc = cgrp_ctx_of(anc);
		if (acgc && refresh_boost(anc, acgc)) {
			propagate(anc);
			reweighted = true;
		}
		bpf_cgroup_release(anc);
		if (!acgc)
			break;

		contrib = acgc->contributed;
		sum = pcgc->child_wsum + (pcgc->nr_tasks > 0 ? CGROUP_WEIGHT_DFL : 0);
		if (!contrib) {
			contrib = acgc->weight_in_parent ?: 1;
			sum += contrib;
		}
		hw = hw * contrib / (sum ?: 1);
		pcgc = acgc;
	}
	hw = hw ?: 1;
	/* a reweighted ancestor bumped hweight_gen: keep the old gen */
	cgc->hweight = hw;
	cgc->hweight_gen = reweighted ? 0 : gen;
	return hw;
}

/*
 * @p's share of the machine: its cgroup's, split among the cgroup's runnable
 * tasks by nice weight. Where the cgroup also has active children (only the
 * root can: cgroup v2 keeps processes out of inner cgroups), its tasks
 * together compete with them as one child of the default weight.
 */
__hidden u64 task_share(struct task_struct *p, struct cgroup *cgrp,
		      struct cgrp_ctx *cgc)
{
	u64 share = cgrp_hweight(cgrp, cgc), w = p->scx.weight ?: 1;
	s64 tasks = cgc->task_wsum;
	u64 children = cgc->child_wsum;

	share = share * w / (tasks > (s64)w ? tasks : w);
	if (children)
		share = share * CGROUP_WEIGHT_DFL / (children + CGROUP_WEIGHT_DFL);
	return share ?: 1;
}

/*
 * Resolves @tctx->boost: the entry of @p's nearest cgroup v2 ancestor (itself
 * included) in the map, 0 if none. Cached per task until its cgroup or the
 * map changes. The cgroup is read without a reference: a task migrating
 * concurrently may be resolved against its old cgroup, and is resolved again
 * on its next switch because the cached ID then differs.
 * Cost, when nothing changed (every switch and wake-up): three dependent
 * loads and two compares. The loads are direct (the verifier's guarded
 * loads from a trusted task), not BPF_CORE_READ(): that is one
 * bpf_probe_read_kernel() helper call per pointer, and took 14 % of
 * ops.running's time (evaluation/journal/hotpath.md).
 */
__hidden void refresh_task_boost(struct task_struct *p, struct task_ctx *tctx)
{
	struct cgroup *cgrp = p->cgroups->dfl_cgrp;
	u64 cgid = cgrp->kn->id;
	u64 gen = map_gen;
	int level, i;

	if (cgid == tctx->cgid && gen == tctx->map_gen)
		return;
	/* sampled before the walk: a change during it bumps map_gen again */
	tctx->cgid = cgid;
	tctx->map_gen = gen;
	tctx->boost = 0;

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
			tctx->boost = entry_weight(prio);
			return;
		}
	}
}

/*
 * Adds @delta (1 or -1) runnable tasks of nice weight @weight (negative with
 * -1) to @cgrp's counts, and propagates the cgroup's activity when it changed
 * (0 <-> 1).
 */
static void count_in(struct cgroup *cgrp, struct cgrp_ctx *cgc, int delta,
		     s64 weight)
{
	s64 was;

	__sync_fetch_and_add(&cgc->task_wsum, weight);
	was = __sync_fetch_and_add(&cgc->nr_tasks, delta);
	if ((delta > 0 && was == 0) || (delta < 0 && was == 1)) {
		if (delta > 0)
			stat_add(MUS_STAT_CGROUP_ACTIVATIONS, 1);
		propagate(cgrp);
	}
}

/*
 * Counts @p in (@delta 1) or out (-1) of its governing cgroup's runnable
 * tasks. O(1): the cgroup is the one cached in @tctx, and ops.cgroup_move
 * carries the count over if the task is moved while counted in.
 */
static void count_runnable(struct task_struct *p, struct task_ctx *tctx, int delta)
{
	struct cgroup *cgrp = tctx->cgrp;
	struct cgrp_ctx *cgc;

	if (!cgrp || (delta > 0) == tctx->counted)
		return;
	cgc = cgrp_ctx_of(cgrp);
	if (cgc) {
		tctx->counted = delta > 0;
		if (delta > 0)
			tctx->counted_weight = p->scx.weight;
		count_in(cgrp, cgc, delta, delta * (s64)tctx->counted_weight);
	}
	/* counted in first, so that the wait's class sees @p among the runnable */
	if (delta > 0)
		wait_begin(p, tctx, cgc);
}

void BPF_STRUCT_OPS(mus_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);

	if (tctx) {
		if (!tctx->waiting) {
			tctx->runnable_at = scx_bpf_now();
			tctx->waiting = true;
		}
		count_runnable(p, tctx, 1);
	}
}

void BPF_STRUCT_OPS(mus_quiescent, struct task_struct *p, u64 deq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);

	if (!tctx)
		return;
	count_runnable(p, tctx, -1);
	/* asleep: its next wait starts when it wakes (runnable_at) */
	if (deq_flags & SCX_DEQ_SLEEP)
		tctx->waiting = false;
}

/* nice changed: move @p's weight in its cgroup's sum if it is counted in. */
void BPF_STRUCT_OPS(mus_set_weight, struct task_struct *p, u32 weight)
{
	struct task_ctx *tctx = task_ctx_of(p);
	struct cgroup *cgrp;
	struct cgrp_ctx *cgc;

	if (!tctx || !tctx->counted || !(cgrp = tctx->cgrp) ||
	    !(cgc = cgrp_ctx_of(cgrp)))
		return;
	__sync_fetch_and_add(&cgc->task_wsum,
			     (s64)weight - (s64)tctx->counted_weight);
	tctx->counted_weight = weight;
}

/*
 * @p moves to cgroup @to (of the cpu controller): it is cached as @p's
 * governing cgroup. The kernel dequeues a queued task around the move
 * (ops.quiescent, then ops.runnable in @to), so it is normally not counted
 * in here; if it is, its count moves with it, so that no cgroup keeps a
 * ghost task.
 */
void BPF_STRUCT_OPS(mus_cgroup_move, struct task_struct *p,
		    struct cgroup *from, struct cgroup *to)
{
	struct task_ctx *tctx = task_ctx_of(p);
	s64 weight;
	struct cgrp_ctx *cgc;
	struct cgroup *cgrp;

	if (!tctx)
		return;
	weight = tctx->counted_weight;
	if (tctx->counted && (cgrp = tctx->cgrp) && (cgc = cgrp_ctx_of(cgrp)))
		count_in(cgrp, cgc, -1, -weight);
	set_task_cgrp(tctx, bpf_cgroup_acquire(to));
	if (tctx->counted && (cgc = cgrp_ctx_of(to)))
		count_in(to, cgc, 1, weight);
	else
		tctx->counted = false;
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
 * Fingerprint high_prio_cgroups and bump map_gen (and hweight_gen, so cached
 * shares are recomputed with the new boosts) if it changed. A change that
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
		__sync_fetch_and_add(&hweight_gen, 1);
		stat_add(MUS_STAT_MAP_CHANGES, 1);
	}

	bpf_timer_start(&scan->timer, map_scan_interval_ns, 0);
	return 0;
}

/* Starts the map scan; the first one runs at once, so that a map carried over
 * from a crashed runner is honoured without waiting an interval. */
__hidden s32 start_map_scan(void)
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
	return bpf_timer_start(&scan->timer, 0, 0);
}

s32 BPF_STRUCT_OPS(mus_cgroup_init, struct cgroup *cgrp,
		   struct scx_cgroup_init_args *args)
{
	struct cgrp_ctx *cgc;

	cgc = cgrp_ctx_create(cgrp);
	if (!cgc)
		return -ENOMEM;
	cgc->weight = args->weight ?: CGROUP_WEIGHT_DFL;
	if (bpf_core_field_exists(args->sched_idle))
		cgc->idle = args->sched_idle;
	if (bpf_core_field_exists(args->bw_quota_us))
		set_bandwidth(cgc, args->bw_period_us, args->bw_quota_us);
	cgc->weight_in_parent = cgrp_weight_in_parent(cgc);
	/* boost_gen 0 is older than any map_gen: resolved on first use */
	return 0;
}

/*
 * A cgroup goes away only once it has no tasks and no children, so it should
 * contribute nothing; if a race left a contribution, take it back so that
 * the parent's sum does not keep a ghost.
 */
void BPF_STRUCT_OPS(mus_cgroup_exit, struct cgroup *cgrp)
{
	struct cgrp_ctx *cgc = cgrp_ctx_of(cgrp);

	forget_waits(cgrp);
	if (!cgc)
		return;
	if (cgc->quota_ns)
		set_bandwidth(cgc, 0, 0);
	cgc->nr_tasks = 0;
	cgc->nr_active_children = 0;
	if (cgc->contributed)
		propagate(cgrp);
}

/* Weight (or idleness, or boost) of @cgrp changed: update its parent's sum. */
static void reweight(struct cgroup *cgrp, struct cgrp_ctx *cgc)
{
	cgc->weight_in_parent = cgrp_weight_in_parent(cgc);
	propagate(cgrp);
}

void BPF_STRUCT_OPS(mus_cgroup_set_weight, struct cgroup *cgrp, u32 weight)
{
	struct cgrp_ctx *cgc = cgrp_ctx_of(cgrp);

	if (!cgc)
		return;
	cgc->weight = weight ?: CGROUP_WEIGHT_DFL;
	reweight(cgrp, cgc);
}

void BPF_STRUCT_OPS(mus_cgroup_set_idle, struct cgroup *cgrp, bool idle)
{
	struct cgrp_ctx *cgc = cgrp_ctx_of(cgrp);

	if (!cgc)
		return;
	cgc->idle = idle;
	reweight(cgrp, cgc);
}
