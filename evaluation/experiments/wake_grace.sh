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
# It prints "@@MUS <bench> <runner> p50=<us> p99=<us> over1ms=<wake-ups> ..." and
# "@@MUS hb <runner> <seconds> ctxt=<switches>" per run.
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
		$1 >/tmp/runner.log 2>&1 &
		RUNNER=$!
		wait_state enabled
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
		kill -TERM $RUNNER
		wait $RUNNER
		wait_state disabled
	fi
}

for r in 1 2 3 4 5 6; do
	for sched in stock mus-runner-old mus-runner; do
		round $sched
	done
done
