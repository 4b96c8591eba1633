# Request/response with nothing else running (issue 20, "What to build" 5): redis-server
# and redis-benchmark -c 4 -t get (closed loop) in one boosted cgroup, no noise, under
# the stock scheduler and builds or flags of mus-runner, interleaved round by round in
# one boot; each scheduler serves two runs, the cgroup confined to one CPU by
# cpuset.cpus (as kubelet's static CPU manager confines a Guaranteed pod: "one") and
# unconfined ("all"), and, if MODES says so, a third: the server unconfined and the
# client in a cgroup of its own ("cross": a client in another pod, or outside
# kubepods, as in `cargo xtask bench auto`). Run from the workspace root:
#   cargo build -p mus-runner -p mus-agent
#   cargo xtask vm-run evaluation/experiments/nonoise_rr.sh \
#     --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --tool redis-server --tool redis-benchmark --tool redis-cli --tool bpftool \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 1800
# Per run it prints "@@MUS rr <scheduler> <one|all> rps=<requests/s> p99_ms=<ms>
# n=<requests> ctxt=<context switches, all CPUs> target_us=<CPU time of the cgroup>
# elapsed_cs=<centiseconds> srv=<redis-server's voluntary/involuntary switches/
# migrations> cli=<the same for redis-benchmark> ipi=<rescheduling/function-call
# interrupts, all CPUs> idle_cs=<idle time of all CPUs> bpf_ns=<time the struct_ops
# programs ran> bpf=<per program: name=ns/calls,...>" (the last two 0 and empty under
# stock).
# <scheduler> is "stock" or a binary passed with --bin, with its flags after colons
# ("mus-runner:--no-preempt", "mus-runner:--sync-grace-us=0"; with "mus-runner:--stats:1"
# the round also prints the runner's last 30 lines, "@@MUS schedlog ..."); every mus run is boosted
# with mus-agent's default weight. kernel.bpf_stats_enabled is on for the whole boot,
# as it must be for bpf_ns: it costs stock nothing and every mus build the same (two
# clock reads per program run; STATS=0 leaves it off, to see what that costs).
# Optional: /exp.conf (--file <host file>:/exp.conf) may set SCHEDS, ROUNDS, N
# (requests per run), CPUSET (the confined runs' CPU), STATS, MODES (default
# "one all") and WAITS=1: then each run also prints "@@MUS waits <scheduler> <mode>
# <comm>=<run-queue delay, us>/<times it was run> ..." for the eight tasks that waited
# longest in the run (lib.sh's delays(): schedstat's run_delay, any scheduling class).
# The end of the boot prints, per scheduler and mode, "@@MUS paired ..." lines: the
# median of the per-round ratios to stock's requests/s and p99 and in how many rounds
# it had at least 0.95x stock's requests/s and at most 1.1x its p99 (the targets).
. /lib.sh
SCHEDS="stock mus-runner mus-runner:--no-preempt mus-runner:--sync-grace-us=0"
ROUNDS=5 N=20000 CPUSET=1 STATS=1 MODES="one all" WAITS=0
[ -f /exp.conf ] && . /exp.conf
echo $STATS >/proc/sys/kernel/bpf_stats_enabled

echo +cpuset >$CG/cgroup.subtree_control
mkcg target
mkcg client
ALL=$(cat $CG/cpuset.cpus.effective)
redis_in_target

# Process $1's voluntary/involuntary switches/migrations, from /proc/$1/sched.
switches() {
	awk '$1 == "nr_voluntary_switches" { v = $3 } $1 == "nr_involuntary_switches" { i = $3 }
		$1 == "se.nr_migrations" { m = $3 } END { print v "/" i "/" m }' /proc/$1/sched
}
# Rescheduling and function-call IPIs so far, all CPUs, as "RES/CAL" (/proc/interrupts).
ipis() {
	awk '$1 == "RES:" || $1 == "CAL:" { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i
		v[$1] = n } END { print v["RES:"] + 0 "/" v["CAL:"] + 0 }' /proc/interrupts
}
# Idle time of all CPUs so far, centiseconds (/proc/stat's idle column, in USER_HZ).
idle_cs() { awk '$1 == "cpu" { print $5; exit }' /proc/stat; }
# $2 minus $1, two switches() values, field by field.
minus() {
	echo "$1 $2" | tr '/' ' ' | awk '{ print $4 - $1 "/" $5 - $2 "/" $6 - $3 }'
}
# The struct_ops programs' run time and calls since snapshot $1 (prog_stats, saved by
# snap), as "name=ns/calls" words joined by commas, then their total time in ns.
snap() { prog_stats | tr ' ' '\n' >/tmp/ps.$1; }
bpf_since() {
	snap now
	awk -F'[=:]' 'NR == FNR { t[$1] = $2; c[$1] = $3; next }
		$1 != "" { d = $2 - t[$1]; s = s sep $1 "=" d "/" $3 - c[$1]; sep = ","; tot += d }
		END { print tot + 0, s }' /tmp/ps.$1 /tmp/ps.now
}

# One run of redis-benchmark under $1, in the target confined to $CPUSET ($2 = one),
# in the target unconfined ($2 = all), or in the cgroup client ($2 = cross).
# redis-benchmark's parent is a sleep that never reaps it, so that its
# /proc/PID/sched is still there, as a zombie's, once it has finished.
bench() {
	[ $2 = one ] && echo $CPUSET >$CG/target/cpuset.cpus || echo $ALL >$CG/target/cpuset.cpus
	[ $2 = cross ] && cli_cg=client || cli_cg=target
	rm -f /tmp/rb.pid
	[ $WAITS = 1 ] && delays /tmp/d0
	snap run
	c0=$(ctxt) t0=$(usage target) s0=$(now_cs) v0=$(switches $SERVER) i0=$(ipis) d0=$(idle_cs)
	sh -c "echo \$\$ > $CG/$cli_cg/cgroup.procs && { redis-benchmark -p 6379 -c 4 -t get \
		-n $N --csv >/tmp/rb.out 2>/dev/null & echo \$! >/tmp/rb.pid; exec sleep 100000; }" &
	H=$!
	while [ ! -s /tmp/rb.pid ]; do sleep 0.1; done
	B=$(cat /tmp/rb.pid)
	w0=$(switches $B)
	# Polled by the shell's own read (no fork) once a second: a poll that forked cut and
	# sleep five times a second queued behind the boosted pair under mus, ran in the
	# pair's gaps and met a quarter of its wake-ups on their CPU (rr_tail_trace.sh).
	st=R
	while [ $st != Z ]; do
		sleep 1
		read -r _ _ st _ </proc/$B/stat
	done
	c1=$(ctxt) t1=$(usage target) s1=$(now_cs) v1=$(switches $SERVER) w1=$(switches $B)
	i1=$(ipis) d1=$(idle_cs)
	bpf=$(bpf_since run)
	[ $WAITS = 1 ] && delays /tmp/d1 && echo "@@MUS waits $1 $2 $(top_delays /tmp/d0 /tmp/d1)"
	kill $H
	wait $H 2>/dev/null
	line=$(tail -1 /tmp/rb.out | tr -d '"')
	echo "@@MUS rr $1 $2 rps=$(echo $line | cut -d, -f2) p99_ms=$(echo $line | cut -d, -f7)" \
		"n=$N ctxt=$((c1 - c0)) target_us=$((t1 - t0)) elapsed_cs=$((s1 - s0))" \
		"srv=$(minus $v0 $v1) cli=$(minus $w0 $w1)" \
		"ipi=$(echo $i0 $i1 | tr '/' ' ' | awk '{ print $3 - $1 "/" $4 - $2 }') idle_cs=$((d1 - d0))" \
		"bpf_ns=${bpf%% *} bpf=${bpf#* }" |
		tee -a /tmp/rr.log
}

# Both runs under $1 (see the header).
round() {
	if [ $1 != stock ]; then
		start_sched /tmp/sched.log ${1%%:*} $(echo $1 | cut -s -d: -f2- | tr ':' ' ')
		mus-agent boost --cgroup $CG/target >/dev/null
		sleep 1
	fi
	for mode in $MODES; do
		bench $1 $mode
	done
	[ $1 = stock ] && return
	# With --stats among the flags, the runner's counters per second of the runs.
	case $1 in *--stats*) tail -n 30 /tmp/sched.log | sed 's/^/@@MUS schedlog /' ;; esac
	stop_sched
}

each_round

# The paired judgement: round r is the r-th run of (scheduler, mode).
awk '{ s = $3 " " $4; k[s]++; split($5, a, "="); split($6, b, "=")
	rps[s, k[s]] = a[2]; p99[s, k[s]] = b[2]; if (!(s in seen)) { seen[s] = 1; o[++n] = s } }
function median(x, m,   i, j, t) {
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
		if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
	return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
}
END { for (i = 1; i <= n; i++) {
	s = o[i]; split(s, sm, " "); ref = "stock " sm[2]
	if (sm[1] == "stock") continue
	m = 0; win = 0; delete rr; delete pr
	for (r = 1; r <= k[s]; r++) {
		if (!((ref, r) in rps) || rps[ref, r] == 0 || p99[ref, r] == 0) continue
		rr[++m] = rps[s, r] / rps[ref, r]; pr[m] = p99[s, r] / p99[ref, r]
		if (rr[m] >= 0.95 && pr[m] <= 1.1) win++
	}
	if (m) printf "@@MUS paired %s rps_ratio_median=%.2f p99_ratio_median=%.2f targets_met=%d/%d\n",
		s, median(rr, m), median(pr, m), win, m
} }' /tmp/rr.log
