# hackbench -g 2 -l 900 (no noise, cgroup "target") under stock and under fresh attaches
# of one mus-runner, interleaved, $ROUNDS rounds in one boot, with what each run leaves
# behind: the scheduler's counters over the run (mus-runner --stats 1, summed between
# markers), each CPU's idle time and the CPU pressure (some, total) during the run, and
# the struct_ops programs' BPF time. The question (evaluation/journal/hackbench.md): what
# a slow attach does differently from a fast one.
#   cargo xtask vm-run evaluation/experiments/hb_attach.sh --tool hackbench --tool bpftool \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 1800
# Prints "@@MUS hb <scheduler> r<round> <seconds> ctxt=<n> idle=<cpu0 cs>,<cpu1 cs>
# psi_us=<some total>" and, for mus, "@@MUS stats r<round> <counter deltas>" and
# "@@MUS bpf r<round> <prog=ns:cnt ...>". /exp.conf may set ROUNDS and RUNNER_ARGS.
. /lib.sh
ROUNDS=6
RUNNER_ARGS=""
[ -f /exp.conf ] && . /exp.conf
sysctl -qw kernel.bpf_stats_enabled=1
mkcg target
idle_cs() {
	awk '/^cpu[0-9]/ { printf "%s%s", sep, $5 + $6; sep = "," }' /proc/stat
}
psi_us() {
	sed -n 's/^some .*total=//p' /proc/pressure/cpu
}
run_hb() {
	i0=$(idle_cs)
	p0=$(psi_us)
	x0=$(ctxt)
	t=$(in_cg target hackbench -g 2 -l 900 2>&1 | sed -n 's/^Time: *//p')
	x1=$(ctxt)
	p1=$(psi_us)
	i1=$(idle_cs)
	echo "@@MUS hb $1 r$2 $t ctxt=$((x1 - x0)) idle=$i0/$i1 psi_us=$((p1 - p0))"
}
r=1
while [ $r -le $ROUNDS ]; do
	run_hb stock $r
	start_sched /tmp/runner.$r.log mus-runner --stats 1 $RUNNER_ARGS
	sleep 1
	b0=$(prog_stats)
	echo "MARK begin" >>/tmp/runner.$r.log
	run_hb mus $r
	echo "MARK end" >>/tmp/runner.$r.log
	b1=$(prog_stats)
	sleep 1.2
	echo "@@MUS bpf r$r $b0 | $b1"
	stop_sched
	sed -n '/MARK begin/,/MARK end/p' /tmp/runner.$r.log | sed "s/^/@@MUS log r$r /"
	r=$((r + 1))
done
