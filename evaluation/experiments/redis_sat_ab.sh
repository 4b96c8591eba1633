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
#     --file evaluation/layered.json:/layered.json \
#     --file .cache/vm/kernel/config:/boot/config-7.3.4+deb13-cloud-amd64 --timeout 1200
# (the last --file: the guest kernel's config, which libbpf reads for scx_layered's
# __kconfig externs; without it scx_layered fails to load with "Invalid argument" and
# its rounds run under the stock scheduler).
# It prints "@@MUS sat <scheduler> rps=<requests/s> p99_ms=<ms> ctxt=<switches>
# target_us=<CPU time> noise_us=<CPU time> elapsed_cs=<centiseconds> res=<rescheduling
# IPIs> cal=<function-call IPIs> srv_vol=<redis-server's voluntary switches>
# srv_invol=<its involuntary switches> srv_migr=<its migrations>" per run (the IPIs and
# the server's counts are deltas over the run, the server's from /proc/PID/sched), and
# "@@MUS ops <scheduler> <sched_ext's root/ops>" once it is attached (empty: it is not).
. /lib.sh

mkcg target
mkcg noise

sh -c "echo \$\$ > $CG/target/cgroup.procs && exec redis-server --port 6379 \
	--bind 127.0.0.1 --save '' --appendonly no --daemonize no" >/tmp/redis.log 2>&1 &
SERVER=$!
sleep 2

# Both vCPUs' count of interrupt $1 (RES, CAL) in /proc/interrupts.
ipis() { awk -v k="$1:" '$1 == k { print $2 + $3 }' /proc/interrupts; }
# redis-server's /proc/PID/sched field $1.
srv() { awk -v k="$1" '$1 == k { print $3 }' /proc/$SERVER/sched; }

# One run of saturated Redis under $1 (mus-runner-old, mus-runner or scx_layered).
round() {
	case $1 in
	scx_layered) scx_layered f:/layered.json >/tmp/sched.log 2>&1 & ;;
	*) $1 >/tmp/sched.log 2>&1 & ;;
	esac
	SCHED_PID=$!
	wait_state enabled 90
	echo "@@MUS ops $1 $(cat $SCX/root/ops)"
	sleep 1
	[ $1 != scx_layered ] && mus-agent boost --cgroup $CG/target >/dev/null
	noise_on
	c0=$(ctxt) t0=$(usage target) n0=$(usage noise) s0=$(now_cs)
	r0=$(ipis RES) k0=$(ipis CAL) v0=$(srv nr_voluntary_switches)
	i0=$(srv nr_involuntary_switches) m0=$(srv se.nr_migrations)
	line=$(sh -c "echo \$\$ > $CG/target/cgroup.procs && exec redis-benchmark -p 6379 \
		-c 4 -t get -n 15000 --csv" 2>/dev/null | tail -1 | tr -d '"')
	c1=$(ctxt) t1=$(usage target) n1=$(usage noise) s1=$(now_cs)
	r1=$(ipis RES) k1=$(ipis CAL) v1=$(srv nr_voluntary_switches)
	i1=$(srv nr_involuntary_switches) m1=$(srv se.nr_migrations)
	echo "@@MUS sat $1 rps=$(echo $line | cut -d, -f2) p99_ms=$(echo $line | cut -d, -f7)" \
		"ctxt=$((c1 - c0)) target_us=$((t1 - t0)) noise_us=$((n1 - n0)) elapsed_cs=$((s1 - s0))" \
		"res=$((r1 - r0)) cal=$((k1 - k0)) srv_vol=$((v1 - v0)) srv_invol=$((i1 - i0))" \
		"srv_migr=$((m1 - m0))"
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
