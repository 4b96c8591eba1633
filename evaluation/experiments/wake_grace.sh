# The experiment behind lead_over()'s grace (a task that ran less than the shortest
# slice is spared) being kept for sync wake-ups only. Two runners, built before and
# after a change, and the stock scheduler, alternated in one guest boot on the bench's
# bystander (cyclictest in an unboosted cgroup next to 2 x CPUs of noise and a busy
# boosted target), on its boosted probe (cyclictest boosted, under the same noise) and
# on hackbench (message passing, which the grace is for). Run from the workspace root:
#   cp target/debug/mus-runner /tmp/old/mus-runner-old    # before the change
#   cargo build -p mus-runner                              # after it
#   cargo xtask vm-run evaluation/experiments/wake_grace.sh \
#     --bin /tmp/old/mus-runner-old --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --tool cyclictest --tool hackbench --tool stress-ng \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 1200
# It prints "@@MUS <bench> <runner> p50=<us> p99=<us> over1ms=<wake-ups> ...",
# "@@MUS hb <runner> <seconds> ctxt=<switches>" per run, and per mus round "@@MUS kicks
# <runner> preemptions=<kicks> refused=<kicks the victim refused>" (0 where a build does
# not count them). /exp.conf (--file <host file>:/exp.conf) may set ROUNDS and SCHEDS.
. /lib.sh

NCPU=$(nproc)
mkcg target
mkcg noise
mkcg by

# One round under $1: mus-runner-old or mus-runner with the target boosted, or stock
# with the target at cpu.weight 400 (the kernel's own 4x).
round() {
	if [ $1 = stock ]; then
		echo 400 >$CG/target/cpu.weight
	else
		start_sched /tmp/runner.log $1 --stats 1
		mus-agent boost --cgroup $CG/target >/dev/null
	fi
	noise_on
	echo "@@MUS latency $1 $(latency_probe target 1500)"
	hogs target $NCPU
	sleep 1
	echo "@@MUS bystander $1 $(latency_probe by 1500)"
	kill_cgroups noise target
	if [ $1 = stock ]; then
		echo 100 >$CG/target/cpu.weight
	else
		mus-agent unboost --cgroup $CG/target >/dev/null
	fi
	hb $1
	if [ $1 != stock ]; then
		stop_sched
		# the round's preempting kicks, and those the victim refused (builds
		# that count them), summed over the runner's per-second counters
		echo "@@MUS kicks $1 $(awk '{ for (i = 1; i <= NF; i++) {
			if ($i ~ /^preemptions=/) { sub(/.*=/, "", $i); k += $i }
			if ($i ~ /^kicks_refused=/) { sub(/.*=/, "", $i); r += $i } } }
			END { print "preemptions=" k + 0, "refused=" r + 0 }' /tmp/runner.log)"
	fi
}

ROUNDS=6 SCHEDS="stock mus-runner-old mus-runner"
[ -f /exp.conf ] && . /exp.conf
r=1
while [ $r -le $ROUNDS ]; do
	for sched in $SCHEDS; do
		round $sched
	done
	r=$((r + 1))
done
