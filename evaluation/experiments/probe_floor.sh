# What the test bed itself adds to a wake-up under noise: is the bench's latency
# target (the boosted probe's p99 under noise within 1.5x the stock scheduler's idle
# p99) reachable by any scheduler in this guest? The probe of the bench (cyclictest,
# a wake-up every 2 ms) as SCHED_OTHER and as SCHED_FIFO, which the kernel runs above
# every sched_ext scheduler and the fair class: a FIFO probe under noise waits only
# for what no CPU scheduler decides (timer delivery, interrupts, the emulator), so its
# tail is the floor for any SCHED_OTHER probe. Rounds alternate in one boot. Run from
# the workspace root:
#   cargo build -p mus-runner -p mus-agent
#   cargo xtask vm-run evaluation/experiments/probe_floor.sh \
#     --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --tool cyclictest --tool stress-ng \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 900
# It prints "@@MUS <condition> <policy> p50=<us> p99=<us> over1ms=<wake-ups> ..."
# per probe of 1500 wake-ups.
. /lib.sh

mkcg target
mkcg noise

probe() {
	echo "@@MUS $1 other $(latency_probe target 1500)"
	echo "@@MUS $1 fifo $(latency_probe target 1500 fifo)"
}

for r in 1 2 3 4; do
	probe stock_idle
	# The bench's strongest stock condition: the kernel's own knobs at their limits.
	echo 10000 >$CG/target/cpu.weight
	echo 1 >$CG/noise/cpu.idle
	noise_on
	probe stock_knobs
	kill_cgroups noise
	echo 100 >$CG/target/cpu.weight
	echo 0 >$CG/noise/cpu.idle

	start_sched /tmp/runner.log mus-runner
	mus-agent boost --cgroup $CG/target >/dev/null
	noise_on
	probe mus_boost
	kill_cgroups noise
	mus-agent unboost --cgroup $CG/target >/dev/null
	stop_sched
done
