# Where the CPU time goes during saturated Redis next to the noise (as redis_sat_ab.sh:
# redis-benchmark -c 4 -t get in a boosted target, 2 x CPUs of noise), under mus and
# scx_layered alternately: perf samples every CPU (cpu-clock, 2 kHz) for five seconds in
# the middle of a run, and the top kernel and user symbols of redis-server and
# redis-benchmark, and the split by command, are printed as "@@MUS p <scheduler> ..."
# lines. Under TCG a sample cannot land where interrupts are off, so the time spent with
# them off (the scheduler's callbacks in the wake-up and context-switch paths, the run
# queue locks) shows up at the point that turns them on again (finish_task_switch,
# _raw_spin_unlock_irqrestore). The sampling shell runs in the target, so that under
# scx_layered it is not held behind the noise. Run from the workspace root:
#   cargo xtask vm-run evaluation/experiments/redis_sat_perf.sh \
#     --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --bin ~/.cache/mus/peers/bin/scx_layered \
#     --tool redis-server --tool redis-benchmark --tool redis-cli --tool stress-ng --tool perf \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh \
#     --file evaluation/layered.json:/layered.json \
#     --file .cache/vm/kernel/config:/boot/config-7.3.4+deb13-cloud-amd64 --timeout 1200
# Optional: /exp.conf may set SCHEDS and ROUNDS (see redis_sat_ab.sh).
. /lib.sh
SCHEDS="mus-runner scx_layered" ROUNDS=2
[ -f /exp.conf ] && . /exp.conf

mkcg target
mkcg noise
redis_in_target

# perf's report of /tmp/perf.data sorted by $2 (for command $3, if given), top $4 lines,
# prefixed with "@@MUS p $1".
report() {
	perf report -i /tmp/perf.data ${3:+--comm $3} --no-children --sort $2 --stdio -g none \
		2>/dev/null | grep -v '^#' | grep -v '^$' | head -$4 | sed "s/^/@@MUS p $1 ${3:-comm} /"
}

round() {
	case $1 in
	scx_layered) start_sched /tmp/sched.log scx_layered f:/layered.json ;;
	*) start_sched /tmp/sched.log $1 ;;
	esac
	sleep 1
	[ $1 != scx_layered ] && mus-agent boost --cgroup $CG/target >/dev/null
	noise_on
	echo $$ >$CG/target/cgroup.procs
	sh -c "echo \$\$ > $CG/target/cgroup.procs && exec redis-benchmark -p 6379 -c 4 \
		-t get -n 100000000 -q" >/tmp/rb.out 2>&1 &
	B=$!
	sleep 2
	perf record -a -g -e cpu-clock -F 2000 -o /tmp/perf.data -- sleep 5 >/dev/null 2>&1
	kill $B
	wait $B
	echo $$ >$CG/cgroup.procs
	echo "@@MUS perf $1 $(tr '\r' '\n' </tmp/rb.out | grep 'rps=' | tail -1)"
	report $1 sym redis-server 12
	report $1 sym redis-benchmark 12
	report $1 comm "" 6
	kill_cgroups noise
	stop_sched
}

each_round
