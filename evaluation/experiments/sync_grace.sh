# The experiment behind --sync-grace-us (how long a task runs before the receiver of
# its sync wake-up may preempt it): hackbench (message passing over sockets, every
# wake-up sync) under the stock scheduler and under mus at graces of 1, 3 and 4 ms,
# six rounds interleaved in one boot, with each run's context switches. Run from the
# workspace root:
#   cargo build -p mus-runner
#   cargo xtask vm-run evaluation/experiments/sync_grace.sh \
#     --bin target/debug/mus-runner --tool hackbench \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 600
# It prints "@@MUS hb <condition> <seconds> ctxt=<switches>" per run.
. /lib.sh

# One hackbench under $1 (stock, or a name for mus-runner run with the rest of the
# arguments).
run() {
	name=$1
	shift
	if [ $name = stock ]; then
		hb stock
		return
	fi
	start_sched /tmp/runner.log mus-runner "$@"
	hb $name
	stop_sched
}

for r in 1 2 3 4 5 6; do
	run stock
	run grace1ms --sync-grace-us 1000
	run grace3ms --sync-grace-us 3000
	run grace4ms --sync-grace-us 4000
done
