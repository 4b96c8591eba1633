# The bench's probe (cyclictest, a wake-up every 2 ms, in cgroup "target") under its
# noise (2 x CPUs of stress-ng matrixprod in "noise"), with the map empty and then the
# target boosted, under builds of mus-runner in one boot, their order rotated per
# round (evaluation/journal/deadline.md: one deadline rule first lost the boosted
# probe's lead over the hogs). Three minutes a boot for three builds. Run from the
# workspace root:
#   cp target/debug/mus-runner /tmp/x/mus-runner-old      # before the change
#   cargo build -p mus-runner -p mus-agent && cp target/debug/mus-runner /tmp/x/mus-runner-new
#   cargo xtask vm-run evaluation/experiments/boosted_probe_ab.sh \
#     --bin /tmp/x/mus-runner-old --bin /tmp/x/mus-runner-new --bin target/debug/mus-agent \
#     --tool cyclictest --tool stress-ng \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 1200
# It prints "@@MUS probe <build> <empty|boost> p50=<us> p99=<us> over1ms=<wake-ups>
# ... over5ms=..." per probe of 1500 wake-ups.
# Optional: /exp.conf (--file <host file>:/exp.conf) may set SCHEDS (the builds, as
# passed with --bin) and ROUNDS.
. /lib.sh
mkcg target
mkcg noise
SCHEDS="mus-runner-old mus-runner-new"
ROUNDS=3
[ -f /exp.conf ] && . /exp.conf
round() {
	start_sched /tmp/runner.log $1
	noise_on
	echo "@@MUS probe $1 empty $(latency_probe target 1500)"
	mus-agent boost --cgroup $CG/target >/dev/null
	sleep 1
	echo "@@MUS probe $1 boost $(latency_probe target 1500)"
	mus-agent unboost --cgroup $CG/target >/dev/null
	kill_cgroups noise
	stop_sched INT
}
each_round
