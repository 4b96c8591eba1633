# Where 32 busy threads under 0.1 CPU get more than their quota. The limits test
# (crates/mus-runner/tests/vm.rs, cpu_max_holds_with_many_threads...) saw 1.006-1.16x
# their cpu.max in 10 s windows under mus, stock ~1.0x. Per round and scheduler, after
# all 32 are in and 2 s more, it measures WINDOW seconds and prints "@@MUS many
# <scheduler> cpu=<the cgroup's CPU time / its quota> window=<s>", and for a mus build
# the scheduler's counters over that window ("@@MUS counters <scheduler> <the second
# line of --monitor; its first is since the load>": throttled, starvation_rescues...).
# Schedulers alternate round by round in one boot. Run from the workspace root:
#   cargo build -p mus-runner
#   cargo xtask vm-run evaluation/experiments/limits_many.sh --bin target/debug/mus-runner \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --cpus 4 --timeout 900
# /exp.conf may set SCHEDS (stock, or runners passed with --bin), ROUNDS, THREADS and
# WINDOW (journal/limits.md).
. /lib.sh
SCHEDS="stock mus-runner" ROUNDS=3 THREADS=32 WINDOW=10
[ -f /exp.conf ] && . /exp.conf
r=1
while [ $r -le $ROUNDS ]; do
	for s in $SCHEDS; do
		[ "$s" = stock ] || start_sched /tmp/sched.log $s
		cg=many$r$s
		mkcg $cg
		echo "10000 100000" >$CG/$cg/cpu.max
		HOG_PIDS=""
		hogs $cg $THREADS
		until [ "$(wc -l <$CG/$cg/cgroup.procs)" -ge $THREADS ]; do sleep 0.05; done
		sleep 2
		[ "$s" = stock ] || { $s --monitor $WINDOW >/tmp/mon.log 2>&1 & MON=$!; }
		t1=$(now_cs)
		u1=$(usage $cg)
		sleep $WINDOW
		u2=$(usage $cg)
		t2=$(now_cs)
		echo "$t1 $t2 $u1 $u2" | awk -v s=$s \
			'{ w = ($2 - $1) / 100; printf "@@MUS many %s cpu=%.3f window=%.2f\n", s, ($4 - $3) / 1e6 / (0.1 * w), w }'
		if [ "$s" != stock ]; then
			sleep 1
			kill $MON
			wait $MON
			echo "@@MUS counters $s $(grep throttled= /tmp/mon.log | sed -n 2p)"
		fi
		kill_cgroups $cg
		[ "$s" = stock ] || stop_sched
	done
	r=$((r + 1))
done
