# The context-switch load of the cost experiments (wait_cost.sh, hotpath_cost.sh),
# sourced as /switch_load.sh (pass it with
# --file evaluation/experiments/switch_load.sh:/switch_load.sh) after /lib.sh.

# One run named $1: starts the scheduler with the command that follows ($2...: a
# mus-runner and its arguments), runs stress-ng --switch 2 (two pairs of processes
# passing a byte through a pipe) for 4 s in cgroup "load", then, with HB=1, hackbench,
# and stops the scheduler. Prints "@@MUS switch $1 ctxt_per_s=<n> ns_per_switch=<n>"
# (/proc/stat's ctxt per second, stress-ng's own figure), "@@MUS hb ..." (lib.sh's hb)
# and "@@MUS progs $1 <name=ns:calls ...>" (bpf_stats, which the caller turned on).
switch_run() {
	name=$1
	shift
	start_sched /tmp/runner.log "$@"
	sleep 1
	x0=$(ctxt)
	t0=$(now_cs)
	ns=$(in_cg load stress-ng --switch 2 --timeout 4s --metrics-brief 2>&1 |
		sed -n 's/.* switch *\([0-9.]*\) nanosecs per context switch.*/\1/p')
	t1=$(now_cs)
	x1=$(ctxt)
	echo "@@MUS switch $name ctxt_per_s=$(( (x1 - x0) * 100 / (t1 - t0) )) ns_per_switch=$ns"
	[ "${HB:-0}" = 1 ] && hb $name
	echo "@@MUS progs $name $(prog_stats)"
	stop_sched
}
