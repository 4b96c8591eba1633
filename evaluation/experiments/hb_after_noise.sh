# Does an attach of mus get slower at hackbench after a noisy, boosted phase? Per
# scheduler (stock, then each mus-runner-<commit> build, see hb_builds.sh): hackbench,
# then noise (lib.sh's noise_on) with "target" boosted while redis-benchmark -c 4 runs
# against the Redis in it, unboost, noise killed, hackbench twice more. Run as
# hb_builds.sh, adding --bin target/debug/mus-agent --tool redis-server
# --tool redis-benchmark --tool redis-cli --tool stress-ng.
# Prints "@@MUS leak <scheduler> <fresh|after1|after2> <seconds>".
. /lib.sh
SCHEDS="stock mus-runner-head mus-runner-ffdeb20 mus-runner-476c5f8 mus-runner-16f10d3"
mkcg target
mkcg noise
redis_in_target
hbt() { in_cg target hackbench -g 2 -l 900 2>&1 | sed -n 's/^Time: *//p'; }
for s in $SCHEDS; do
	[ $s = stock ] || start_sched /tmp/$s.log $s
	echo "@@MUS leak $s fresh $(hbt)"
	[ $s != stock ] && mus-agent boost --cgroup $CG/target >/dev/null
	noise_on
	redis-benchmark -c 4 -n 15000 -t get -q 2>&1 | tail -1 | sed 's/^/@@MUS leak '$s' redis /'
	[ $s != stock ] && mus-agent unboost --cgroup $CG/target >/dev/null
	kill_cgroups noise
	echo "@@MUS leak $s after1 $(hbt)"
	echo "@@MUS leak $s after2 $(hbt)"
	[ $s = stock ] || stop_sched
done
