/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The scheduler's life: ops.init (the queues, the timers), ops.exit (the
 * exit info the runner reads) and the dump the kernel prints when it ejects
 * mus. Kept out of main.bpf.c, which every other file reads (the tunables,
 * the task, CPU and cgroup state), so that it calls into none of them.
 */
#include "mus.bpf.h"

UEI_DEFINE(uei);

/*
 * One notice per exit, for the runner to wake on. It sleeps in poll(2) on this
 * ring and on its signals, and reads uei when woken, so no timer of its own
 * runs beside the workloads mus schedules (it used to look ten times a second,
 * and each look was a wake-up among them). One page, the smallest ring: a
 * second notice cannot come, since the runner loads a new scheduler, with a
 * new ring, after an exit.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} exit_notices SEC(".maps");

/*
 * Exit dump (printed by the kernel when mus is ejected, and by the runner):
 * queue depths, the node's progress, and per CPU its own queue's depth and
 * the current task's cgroup, boost and share.
 */
void BPF_STRUCT_OPS(mus_dump, struct scx_dump_ctx *dctx)
{
	u32 i;

	scx_bpf_dump("mus: now=%llu caches=%u throttled=%d release_at=%llu hweight_gen=%llu map_gen=%llu bw_cgroups=%llu",
		     scx_bpf_now(), nr_llcs, scx_bpf_dsq_nr_queued(THROTTLED_DSQ),
		     bw_release_at, hweight_gen, map_gen, nr_bw_cgroups);
	bpf_for(i, 0, nr_llcs)
		scx_bpf_dump("mus cache%u: queued=%d progress=%llu", i,
			     scx_bpf_dsq_nr_queued(LLC_DSQ(i)), *progress_of(i));
}

void BPF_STRUCT_OPS(mus_dump_cpu, struct scx_dump_ctx *dctx, s32 cpu, bool idle)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(cpu);

	if (!cctx || idle)
		return;
	scx_bpf_dump("mus cpu%d: cache=%u queued=%d cgroup=%llu boost=%u share=%llu/%llu vtime=%llu",
		     cpu, llc_of(cpu), scx_bpf_dsq_nr_queued(CPU_DSQ(cpu)),
		     cctx->cgid, cctx->boost, cctx->share, SHARE_ONE,
		     cctx->vtime);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(mus_init)
{
	s32 ret;

	ret = create_queues();
	if (ret)
		return ret;
	ret = init_bw_timer();
	if (ret)
		return ret;
	return start_map_scan();
}

void BPF_STRUCT_OPS(mus_exit, struct scx_exit_info *ei)
{
	s64 kind = ei->kind;

	UEI_RECORD(uei, ei);
	/* recorded first: the runner reads uei as soon as the notice wakes it */
	bpf_ringbuf_output(&exit_notices, &kind, sizeof(kind), 0);
}
