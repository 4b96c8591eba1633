# Saturated Redis (redis-benchmark -c 4 -t get, closed loop) in a boosted target next
# to 2 x CPUs of noise, as in the bench, under two builds of mus-runner and scx_layered
# with the bench's 4x layer, alternated in one boot; with each run's
# context switches and the CPU time the target and the noise got. Run from the
# workspace root:
#   cp target/debug/mus-runner /tmp/old/mus-runner-old    # before the change
#   cargo build -p mus-runner                              # after it
#   cargo xtask vm-run evaluation/experiments/redis_sat_ab.sh \
#     --bin /tmp/old/mus-runner-old --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --bin ~/.cache/mus/peers/bin/scx_layered \
#     --tool redis-server --tool redis-benchmark --tool stress-ng \
#     --file crates/mus-runner/tests/scenarios/lib.sh:/lib.sh \
#     --file evaluation/layered.json:/layered.json --timeout 1200
# It prints "@@MUS sat <scheduler> rps=<requests/s> p99_ms=<ms> ctxt=<switches>
# target_us=<CPU time> noise_us=<CPU time> elapsed_cs=<centiseconds>" per run.
. /lib.sh

mkcg target
mkcg noise

sh -c "echo \$\$ > $CG/target/cgroup.procs && exec redis-server --port 6379 \
	--bind 127.0.0.1 --save '' --appendonly no --daemonize no" >/tmp/redis.log 2>&1 &
sleep 2

ctxt() { sed -n 's/^ctxt //p' /proc/stat; }

# One run of saturated Redis under $1 (mus-runner-old, mus-runner or scx_layered).
round() {
	case $1 in
	scx_layered) scx_layered f:/layered.json >/tmp/sched.log 2>&1 & ;;
	*) $1 >/tmp/sched.log 2>&1 & ;;
	esac
	SCHED_PID=$!
	wait_state enabled 30
	sleep 1
	[ $1 != scx_layered ] && mus-agent boost --cgroup $CG/target >/dev/null
	noise_on
	c0=$(ctxt) t0=$(usage target) n0=$(usage noise) s0=$(now_cs)
	line=$(sh -c "echo \$\$ > $CG/target/cgroup.procs && exec redis-benchmark -p 6379 \
		-c 4 -t get -n 5000 --csv" 2>/dev/null | tail -1 | tr -d '"')
	c1=$(ctxt) t1=$(usage target) n1=$(usage noise) s1=$(now_cs)
	echo "@@MUS sat $1 rps=$(echo $line | cut -d, -f2) p99_ms=$(echo $line | cut -d, -f7)" \
		"ctxt=$((c1 - c0)) target_us=$((t1 - t0)) noise_us=$((n1 - n0)) elapsed_cs=$((s1 - s0))"
	kill_cgroups noise
	kill -TERM $SCHED_PID
	wait $SCHED_PID
	wait_state disabled 30
}

for r in 1 2 3 4; do
	for sched in mus-runner-old mus-runner scx_layered; do
		round $sched
	done
done
