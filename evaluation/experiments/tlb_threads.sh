# How much of the schedulers' BPF time per switch under TCG is QEMU's software TLB:
# QEMU flushes a vCPU's whole TLB on every CR3 write (cpu_x86_update_cr3()), so a
# switch between two processes makes every page a callback touches afterwards cost a
# page walk, while a switch between two threads of one process writes no CR3. Per
# round (default 6), under mus (boosting nothing) and scx_bpfland, in rotating order,
# hackbench -g 2 -l 300 twice: with processes (-P) and with threads (-T). Each run
# prints "@@MUS tlb <sched>_<P|T> ctxt=<switches> before: <progs> after: <progs>"
# (lib.sh's prog_stats around the run); tlb_threads_summary.py turns them into BPF ns
# per switch and the mus/bpfland ratio per mode and round
# (evaluation/journal/hotpath.md). Run from the workspace root:
#   cargo xtask vm-run evaluation/experiments/tlb_threads.sh --bin target/debug/mus-runner \
#     --bin ~/.cache/mus/peers/bin/scx_bpfland --tool hackbench --tool bpftool \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh \
#     --file .cache/vm/kernel/config:/boot/config-7.3.4+deb13-cloud-amd64 --timeout 1800
# (scx_bpfland's libbpf reads the kernel's config for its __kconfig externs.)
# Optional: /exp.conf (--file <conf>:/exp.conf) may set ROUNDS.
. /lib.sh
[ -f /exp.conf ] && . /exp.conf

echo 1 >/proc/sys/kernel/bpf_stats_enabled
mkcg load

# One run of scheduler $1 (mus or bpfland) with hackbench's mode $2 (P or T).
run() {
	case $1 in
	mus) start_sched /tmp/sched.log mus-runner ;;
	bpfland) start_sched /tmp/sched.log scx_bpfland ;;
	esac
	sleep 1
	before=$(prog_stats)
	x0=$(ctxt)
	in_cg load hackbench -g 2 -l 300 -$2 >/dev/null 2>&1
	x1=$(ctxt)
	echo "@@MUS tlb $1_$2 ctxt=$((x1 - x0)) before: $before after: $(prog_stats)"
	stop_sched
}

r=1
while [ $r -le "${ROUNDS:-6}" ]; do
	for s in $(rotate $((r - 1)) mus bpfland); do
		for m in $(rotate $((r - 1)) P T); do
			run $s $m
		done
	done
	r=$((r + 1))
done
