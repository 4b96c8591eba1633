# The second half of the experiment behind --sync-grace-us: does a longer grace for sync
# wake-ups cost the bench's latency-bound work anything? Fixed-rate Redis (redis-rate,
# 100 GET/s over 2 connections for 5 s; server and client in the boosted target: every
# request is two sync wake-ups over loopback), the boosted probe and the bystander (both
# 1500 wake-ups of cyclictest, timer wake-ups), all under 2 x CPUs of noise, under the
# stock scheduler (the target at cpu.weight 400) and under mus with graces of 1 and 3 ms,
# five rounds interleaved in one boot. Run from the workspace root:
#   cargo build -p mus-runner -p mus-agent -p redis-rate
#   cargo xtask vm-run evaluation/experiments/sync_grace_latency.sh \
#     --bin target/debug/mus-runner --bin target/debug/mus-agent --bin target/debug/redis-rate \
#     --tool redis-server --tool cyclictest --tool stress-ng \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 1100
# It prints "@@MUS redis <condition> <redis-rate's name value pairs>" and
# "@@MUS latency|bystander <condition> p50=<us> p99=<us> over1ms=<wake-ups> ...".
. /lib.sh

NCPU=$(nproc)
mkcg target
mkcg noise
mkcg by

redis_in_target

# One round under $1: stock, or a name for mus-runner run with the rest of the arguments.
round() {
	name=$1
	shift
	if [ $name = stock ]; then
		echo 400 >$CG/target/cpu.weight
	else
		start_sched /tmp/runner.log mus-runner "$@"
		mus-agent boost --cgroup $CG/target >/dev/null
	fi
	noise_on
	sh -c "echo \$\$ > $CG/target/cgroup.procs && exec redis-rate --port 6379 --rate 100 \
		--duration 5 --connections 2 --key bench:key" >/tmp/rr.out 2>/dev/null
	echo "@@MUS redis $name $(tr '\n' ' ' </tmp/rr.out)"
	echo "@@MUS latency $name $(latency_probe target 1500)"
	hogs target $NCPU
	sleep 1
	echo "@@MUS bystander $name $(latency_probe by 1500)"
	kill_cgroups noise
	# the hogs only: Redis stays in the target for the next round
	for pid in $(cat $CG/target/cgroup.procs); do
		[ "$(cat /proc/$pid/comm)" = redis-server ] || kill -KILL $pid
	done
	sleep 0.5
	if [ $name = stock ]; then
		echo 100 >$CG/target/cpu.weight
	else
		mus-agent unboost --cgroup $CG/target >/dev/null
		stop_sched
	fi
}

for r in 1 2 3 4 5; do
	round stock
	round grace1ms --sync-grace-us 1000
	round grace3ms --sync-grace-us 3000
done
