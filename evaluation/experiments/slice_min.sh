# The experiment behind mus-runner's --slice-min-us default: hackbench -g 2 -l 300
# under the stock scheduler and under mus at several shortest slices, three rounds
# interleaved in one guest boot, with each run's context switches. Run from the
# workspace root:
#   cargo build -p mus-runner
#   cargo xtask vm-run evaluation/experiments/slice_min.sh --bin target/debug/mus-runner \
#     --tool hackbench --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 600
# It prints "@@MUS hb <condition> <seconds> ctxt=<switches>" per run.
. /lib.sh

for round in 1 2 3; do
	hb stock
	for us in 500 1000 1500 2000; do
		start_sched /tmp/runner.log mus-runner --slice-min-us $us
		sleep 1
		hb mus_slice_min_$us
		stop_sched
	done
done
