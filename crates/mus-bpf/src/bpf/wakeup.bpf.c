/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wake-ups: ops.select_cpu and ops.enqueue, the choice of an idle CPU or a
 * preemption victim, and where a boosted waker waits.
 */
#include "mus.bpf.h"

/*
 * By how much vtime a waking task of boost @boost placed at @vtime (woken by
 * a sync wake-up if @sync) goes before the task running on @victim at @now,
 * by the one order (lead_of()) against that task's deadline; 0: it does
 * not, or the task is not ours, or the CPU was already kicked.
 *
 * A global function (not static, not inlined: at most five scalar arguments),
 * so that the verifier checks it once rather than at each of pick_victim()'s
 * three candidates: inlined, mus took 7.6-8.5 s to load on 6.12, 3.4-5.1
 * before these deadlines, and 3.1-3.6 s with this.
 */
__attribute__((noinline))
u64 lead_over(s32 victim, u64 vtime, u32 boost, bool sync, u64 now)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(victim);
	u64 cur;

	if (!cctx || !cctx->vtime || cctx->kicked)
		return 0;
	/*
	 * The sync grace, the order's one exception here. Against a sync
	 * wake-up (a task waking another through a pipe or a socket, and about
	 * to wait for its answer: SCX_WAKE_SYNC), a task that has run less than
	 * sync_grace_ns is not preempted: message passing would otherwise turn
	 * every message into a context switch, the waker preempted by its
	 * receiver and back. Other wake-ups (a timer, a device, a futex) get no
	 * such wait: slices end on ticks (4 ms at HZ=250), so a waker refused
	 * here would wait for the next tick. A boosted waker is exempt against
	 * a task boosted less: being on a CPU at once is what a boost is for.
	 * The grace protects the waker, so it applies on the waker's CPU only
	 * (the one handling the wake-up): a task elsewhere has nothing to do
	 * with the message.
	 */
	if (sync && victim == bpf_get_smp_processor_id() &&
	    now - cctx->started_at < sync_grace_ns && boost <= cctx->boost)
		return 0;
	/* its vtime now, uncharged yet */
	cur = cctx->vtime;
	if (time_before(cctx->started_at, now))
		cur += (now - cctx->started_at) * SHARE_ONE / (cctx->share ?: 1);
	return lead_of(vtime, boost, running_deadline(cctx, cur), cctx->boost,
		       time_before(now, cctx->keeps_until));
}

/*
 * For a waking @p (@tctx its context) that no idle CPU took: the CPU whose
 * task's deadline is furthest beyond @p's vtime (lead_over()) among @p's CPU
 * and two distinct random CPUs of its cache (the power of two choices: no scan of
 * every CPU; the cache's, because those CPUs serve the queue @p goes to;
 * distinct, because two independent draws were the same CPU a quarter of
 * the time on a cache of two, and the other CPU went unseen), -1 if none
 * should give way. A task that may run on one CPU only looks at that one.
 * @p's CPU is taken at once if the wake-up is handled there (a timer or an
 * interrupt on the CPU @p slept on) and its task should give way: preempting
 * the local CPU needs no IPI, which is most of a wake-up's cost when the
 * alternative is only a little further ahead. Tolerated race: CPU states are
 * read without locks, so a CPU that switched tasks meanwhile may be preempted
 * needlessly; its dispatch then keeps the right task. A random CPU that is
 * @p's own is not weighed twice (on a cache of two CPUs one of them always
 * is).
 */
static s32 pick_victim(struct task_struct *p, const struct task_ctx *tctx,
		       bool sync, u64 now)
{
	s32 best = -1, own = scx_bpf_task_cpu(p), cpu = own, i;
	u64 lead, best_lead = 0;
	u32 llc = llc_of(cpu), n = llc_nr_cpus(llc), first = 0, step = 0;
	bool others = p->nr_cpus_allowed > 1 && n > 1;

	if (others) {
		/* the second CPU is 1..n-1 places after the first, modulo n */
		first = bpf_get_prandom_u32() % n;
		step = 1 + bpf_get_prandom_u32() % (n - 1);
	}
	bpf_for(i, 0, others ? 3 : 1) {
		if (i) {
			cpu = llc_cpu(llc, first + (i - 1) * step);
			if (cpu == own)
				continue;
		}
		if (cpu < 0 || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		lead = lead_over(cpu, p->scx.dsq_vtime, tctx->boost, sync, now);
		if (!i && lead && cpu == bpf_get_smp_processor_id())
			return cpu;
		/* the previous CPU wins ties: its cache is warm */
		if (lead > best_lead) {
			best_lead = lead;
			best = cpu;
		}
	}
	return best;
}

/*
 * Marks @victim as preempted (no other waker picks it until its next task
 * runs) and returns whether its current task is boosted less than @boost.
 */
static bool claim_victim(s32 victim, u32 boost)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(victim);

	stat_add(MUS_STAT_PREEMPTIONS, 1);
	if (!cctx)
		return false;
	cctx->kicked = true;
	return boost > cctx->boost;
}

/*
 * Whether ops.enqueue will hold @p back: @tctx's cgroup or a limited ancestor
 * has no cpu.max runtime left, and @p may be held back (may_hold_back()).
 */
static bool over_quota(struct task_struct *p, struct task_ctx *tctx)
{
	struct cgroup *cgrp;
	u64 due = 0;

	if (!nr_bw_cgroups || !(cgrp = tctx->cgrp))
		return false;
	return quota_left(cgrp, scx_bpf_now(), &due) <= 0 &&
	       may_hold_back(p, tctx);
}

s32 BPF_STRUCT_OPS(mus_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	struct task_ctx *tctx;
	bool is_idle = false;
	s32 cpu;

	/*
	 * The kernel's pick is not told SCX_WAKE_SYNC. With it, while any CPU
	 * is idle, it returns the waker's CPU (wake-affine: the waker is about
	 * to sleep) before it looks at whether the wakee's own CPU is idle, and
	 * does not claim it; a request/response pair on two CPUs was pulled onto
	 * one: ops.enqueue then found the wakee's CPU idle and queued the wakee
	 * for it, a queue and a kick later than a direct insert, or the waker's
	 * CPU took it once the waker slept (a migration). Without the flag the
	 * wakee goes straight to its own CPU when that is idle, as the kernel's
	 * fair class ends up doing (select_idle_sibling()). Redis and
	 * redis-benchmark unconfined with nothing else running: 0.77x stock's
	 * requests/s with the flag, 1.13x without, in the same boot
	 * (evaluation/journal/nonoise.md). The flag still counts for the sync
	 * grace (lead_over()).
	 */
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags & ~SCX_WAKE_SYNC,
				     &is_idle);
	if (!(tctx = lookup_task_ctx(p)))
		return cpu;
	/* ops.enqueue is not told; it reads (and clears) this */
	tctx->sync_wake = wake_flags & SCX_WAKE_SYNC;
	if (!is_idle)
		return cpu;
	if (over_quota(p, tctx)) {
		/*
		 * ops.enqueue holds it back; the idle CPU the kernel claimed
		 * for it is kicked, so that it goes idle again and can be found.
		 */
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return cpu;
	}
	tctx->sync_wake = false; /* no ops.enqueue after a direct insert */
	/*
	 * Nobody to be fair against on an idle CPU: run right away, placed
	 * like any waking task so that its vtime carries no hoard of credit
	 * into later comparisons.
	 */
	refresh_task_boost(p, tctx);
	restore_vtime(p, tctx);
	clamp_lag(p, tctx, llc_of(cpu), true);
	stat_add(MUS_STAT_DISPATCH_IDLE, 1);
	/* ops.running sets the slice it gets (so do the inserts below) */
	scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
	return cpu;
}

/*
 * A cache-hot task was queued behind @dsq's head and found no idle CPU in its
 * cache. If the head itself is no longer hot (it has waited a while), an idle
 * CPU of another cache may take it: claim one, so that an overloaded cache
 * next to an idle one does not stay so (idle CPUs have no tick to notice).
 */
static s32 kick_for_head(u64 dsq, struct task_struct *p, u64 now)
{
	struct task_struct *head = __COMPAT_scx_bpf_dsq_peek(dsq);

	if (!head || head == p || cache_hot(task_ctx_of(head), now))
		return -1;
	return scx_bpf_pick_idle_cpu(head->cpus_ptr, 0);
}

/*
 * Where a boosted waker @p that found no CPU waits in @dsq: ahead of the
 * queue's head when the one order (lead_of()) puts it first, the head being
 * boosted less and @p at most its wake credit behind it, unless the head is
 * there by the starvation rescue (its wait must end); else at its vtime.
 * Under saturated Redis next to noise, the server's and the client's
 * wake-ups found the other CPU between two tasks or running the other of
 * the pair, and then waited behind noise threads a little behind them in
 * vtime, a noise slice per request in flight; and a victim kicked for a
 * boosted waker takes the queue's head. The place is lent, not the vtime:
 * @p is charged from its own vtime (restore_vtime()).
 * Cost: a peek at the head and one task storage lookup, for boosted wakers
 * behind the head only. Tolerated race: the head is read without the
 * queue's lock; a stale head misplaces one wake-up by at most the credit.
 */
static u64 queue_key(struct task_struct *p, struct task_ctx *tctx, u64 dsq)
{
	struct task_struct *head;
	struct task_ctx *htctx;
	u64 v = p->scx.dsq_vtime, h;

	if (!tctx->boost || !(head = __COMPAT_scx_bpf_dsq_peek(dsq)))
		return v;
	h = head->scx.dsq_vtime;
	/* a waker ahead of the head is first already */
	if (!time_before(h, v))
		return v;
	htctx = task_ctx_of(head);
	if (htctx && htctx->rescued)
		return v;
	if (!lead_of(v, tctx->boost, h, htctx ? htctx->boost : 0, false))
		return v;
	tctx->own_vtime = v;
	tctx->queued_ahead = true;
	stat_add(MUS_STAT_QUEUE_JUMPS, 1);
	return h - 1;
}

/*
 * Whether waking @p may go straight into the local queue of @cpu, its CPU, to
 * run when the task running there stops, ahead of the queues and with no
 * ops.dispatch. @p may run on @cpu only and is woken there (by the task
 * running on it, or an interrupt: an insert into another CPU's local queue
 * would cost the waker's CPU both run queues' locks, "Remote inserts" in
 * evaluation/journal/experiments.md), and either
 * - is a per-CPU kernel thread (ksoftirqd, a bound kworker): it works for the
 *   tasks of its CPU, boosted ones included (a confined boosted pair's own
 *   loopback traffic waited in ksoftirqd, queued behind the pair's wake-ups;
 *   softirqs handled inline run above every task anyway), or
 * - nothing waits for that CPU (its local queue, its own queue and its
 *   cache's are empty), so that ops.dispatch would only move @p there.
 * The second rule pays only with the first (evaluation/journal/nonoise.md).
 * What it gives up: at the running task's slice end ops.dispatch would have
 * weighed @p against it (gives_way()); from the local queue @p runs first, for
 * one slice, charged as usual. Only wake-ups: a kthread that stays runnable
 * (ksoftirqd under a flood) is requeued by vtime like any task at its slice's
 * end. Tolerated race: a task queued in the cache's queue just after the check
 * waits for @p's slice, as it would behind a task already running here.
 * Cost: for confined wake-ups that found their CPU busy and did not preempt
 * it, three queue-length kfuncs (none for a kthread).
 */
static bool runs_next_here(const struct task_struct *p, s32 cpu)
{
	if (p->nr_cpus_allowed != 1 || cpu != bpf_get_smp_processor_id())
		return false;
	if (p->flags & PF_KTHREAD)
		return true;
	return !scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL) &&
	       !scx_bpf_dsq_nr_queued(CPU_DSQ(cpu)) &&
	       !scx_bpf_dsq_nr_queued(LLC_DSQ(llc_of(cpu)));
}

/*
 * Whether the wake-up of @p, a task that may run on one CPU only, is a sync
 * one: the kernel calls ops.select_cpu (where SCX_WAKE_SYNC is told) only for
 * tasks that may run on more than one CPU, so a pair confined to one CPU by
 * a cpuset (kubelet's static CPU manager) preempted each other on every
 * message: Redis and its client, both in a boosted cgroup on one CPU, made
 * 0.45 involuntary switches per request against stock's 0.03, at 0.53x
 * stock's requests/s (evaluation/journal/nonoise.md). Without the flag, a
 * wake-up counts as sync when the task running here (the waker) is a user
 * task of @p's own cgroup: message passing inside a pod, whose waker is about
 * to wait for the answer. lead_over() grants the grace only on this CPU.
 * Counting every confined wake-up as sync (the first try) also spared CPU
 * hogs a pinned cyclictest's timer wake-ups (the wakeups guest test); here an
 * interrupt that lands while a task of another cgroup runs preempts at once,
 * as before. Tolerated: a timer or interrupt wake-up that lands while a task
 * of @p's own cgroup runs waits at most the grace, which shares nothing with
 * other cgroups. The waker's cgroup is read from this CPU's context, which
 * describes the task of ours running here from its ops.running to its
 * ops.stopping (cpu_ctx's vtime is 0 outside that): the waker, when it is
 * ours. Cost: a few loads (the inlined per-CPU lookup), for confined
 * wake-ups only; before, a task storage lookup of the waker.
 */
static bool confined_sync(struct task_struct *p, const struct task_ctx *tctx,
			  u64 enq_flags)
{
	struct task_struct *waker;
	struct cpu_ctx *cctx;

	if (!(enq_flags & SCX_ENQ_WAKEUP) || p->nr_cpus_allowed != 1 ||
	    (p->flags & PF_KTHREAD))
		return false;
	waker = bpf_get_current_task_btf();
	if (waker == p || (waker->flags & PF_KTHREAD))
		return false;
	cctx = this_cpu_ctx();
	return cctx && cctx->vtime && cctx->cgid == tctx->cgid;
}

void BPF_STRUCT_OPS(mus_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	s32 cpu = scx_bpf_task_cpu(p), idle, victim = -1;
	bool sync;
	u64 now, dsq;

	if (!tctx) {
		scx_bpf_dsq_insert_vtime(p, task_dsq(p, cpu), slice_ns,
					 *progress_of(llc_of(cpu)), enq_flags);
		return;
	}
	restore_vtime(p, tctx);
	/* set by ops.select_cpu for this wake-up only (not called for pinned tasks) */
	sync = tctx->sync_wake || confined_sync(p, tctx, enq_flags);
	tctx->sync_wake = false;
	if (try_throttle(p, tctx, enq_flags))
		return;
	/*
	 * SCX_OPS_ENQ_LAST: the CPU's last runnable task, whose slice ended with
	 * nothing else to run, comes through here only so that cpu.max can hold
	 * it back. ops.dispatch keeps such a task running itself, so this is
	 * rare; where it happens, the local insert alone may not reschedule the
	 * CPU (from 6.12 on, the kernel has already settled on idling): kick it.
	 */
	if (enq_flags & SCX_ENQ_LAST) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		scx_bpf_kick_cpu(cpu, 0);
		return;
	}
	refresh_task_boost(p, tctx);
	clamp_lag(p, tctx, llc_of(cpu), enq_flags & SCX_ENQ_WAKEUP);
	now = scx_bpf_now();
	/*
	 * A requeue to change a queued task (renice, cgroup move, affinity: it
	 * has not stopped running since it was queued) keeps the time it was
	 * queued since, as the watchdog keeps its own clock. When a requeue
	 * restarted it, a cpu.idle crowd reniced every 100 ms was out of the
	 * budgeted pass's sight: 304 of its 1165 rescues in 10 s were by the
	 * hard bound, and none since (evaluation/journal/stalls.md).
	 */
	if (!tctx->enqueued_at || time_before(tctx->enqueued_at, tctx->stopped_at))
		tctx->enqueued_at = now;
	tctx->rescued = false;

	/*
	 * An idle CPU takes it at once: one of its cache, or, unless @p is
	 * cache-hot (it was just preempted or its slice ended), one of another
	 * cache. Straight into the local queue when that is @p's own CPU; else
	 * @p is queued below and the idle CPU kicked, to take it in its
	 * dispatch. Inserting into another CPU's local queue from here moves
	 * @p between run queues under both their locks, with interrupts off,
	 * on the waker's CPU: under saturated Redis next to noise, that work
	 * on the boosted pair's own CPUs cost them 8-32 % more CPU per request,
	 * and their p99 was 1.1-1.9x what it is with the kicked CPU doing it in
	 * its own time (evaluation/journal/experiments.md, "Remote inserts"). One exception
	 * below.
	 */
	idle = pick_idle_near(p, cpu, !cache_hot(tctx, now));
	if (idle == cpu) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		scx_bpf_kick_cpu(idle, SCX_KICK_IDLE);
		stat_add(MUS_STAT_DISPATCH_IDLE, 1);
		return;
	}
	/*
	 * An idle CPU of another cache still gets @p itself, directly: kicked,
	 * it would steal its new cache's queue's head instead, whichever task
	 * that is, and tasks would change caches with nothing owed (the
	 * two-socket guest test counts such moves).
	 */
	if (idle >= 0 && llc_of(idle) != llc_of(cpu) && may_move(p)) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL_ON | idle, slice_ns, enq_flags);
		scx_bpf_kick_cpu(idle, SCX_KICK_IDLE);
		stat_add(MUS_STAT_DISPATCH_IDLE, 1);
		return;
	}

	/*
	 * Else, if it just woke, maybe preempt a CPU. A boosted waker against a
	 * task boosted less on @p's own CPU goes straight into its local queue,
	 * ahead and preempting at once (SCX_ENQ_PREEMPT); a victim elsewhere is
	 * kicked below and, as the one order puts a boosted waker first in
	 * queue_key() and gives_way() alike, takes @p from the queue in its
	 * dispatch.
	 */
	if (idle < 0 && preempt_enabled && (enq_flags & SCX_ENQ_WAKEUP))
		victim = pick_victim(p, tctx, sync, now);
	if (victim >= 0 && claim_victim(victim, tctx->boost) && victim == cpu) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns,
				   enq_flags | SCX_ENQ_PREEMPT);
		return;
	}

	/* confined to this busy CPU and not preempting it: next, if it may */
	if (idle < 0 && victim < 0 && (enq_flags & SCX_ENQ_WAKEUP) &&
	    runs_next_here(p, cpu)) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		stat_add(MUS_STAT_LOCAL_WAKEUPS, 1);
		return;
	}

	/*
	 * @p's CPU is the one ops.select_cpu chose (a wake-up) or the one it
	 * ran on: its cache's queue, where its data is warm.
	 */
	dsq = task_dsq(p, cpu);
	scx_bpf_dsq_insert_vtime(p, dsq, slice_ns,
				 (enq_flags & SCX_ENQ_WAKEUP) ?
				 queue_key(p, tctx, dsq) : p->scx.dsq_vtime,
				 enq_flags);
	if (idle < 0 && victim < 0 && nr_llcs > 1)
		idle = kick_for_head(dsq, p, now);
	if (idle >= 0)
		scx_bpf_kick_cpu(idle, SCX_KICK_IDLE);
	else if (victim >= 0)
		scx_bpf_kick_cpu(victim, SCX_KICK_PREEMPT);
}
