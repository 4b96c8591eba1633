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
#     --tool redis-server --tool redis-benchmark --tool redis-cli --tool stress-ng \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh \
#     --file evaluation/layered.json:/layered.json \
#     --file .cache/vm/kernel/config:/boot/config-7.3.4+deb13-cloud-amd64 --timeout 1200
# (the last --file: the guest kernel's config, which libbpf reads for scx_layered's
# __kconfig externs; without it scx_layered fails to load with "Invalid argument" and
# its rounds run under the stock scheduler).
# It prints "@@MUS sat <scheduler> rps=<requests/s> p99_ms=<ms> n=<requests>
# ctxt=<switches> target_us=<CPU time> noise_us=<CPU time> elapsed_cs=<centiseconds>
# res=<rescheduling IPIs> cal=<function-call IPIs> srv_vol=<redis-server's voluntary
# switches> srv_invol=<its involuntary switches> srv_migr=<its migrations>
# psi_ms=<the target's CPU pressure>" per run (the IPIs and the server's counts are
# deltas over the run, the server's from /proc/PID/sched), and
# "@@MUS ops <scheduler> <sched_ext's root/ops>" once it is attached (empty: it is not).
# Optional: a file passed as /exp.conf (--file <host file>:/exp.conf) is sourced and may
# set SCHEDS (the rounds' schedulers, in order; binaries passed with --bin, scx_layered,
# or stock_alone: no scheduler and no noise), ROUNDS, N (requests per run), CLIENT_CG
# ("client": redis-benchmark in a cgroup of its own, unboosted, as a pod's client in
# another pod; default "target", beside the server) and MODE:
# "csv" (the default: one line per run), "hist" (also redis-benchmark's cumulative
# distribution of latencies) or "mid" (N should then be 40000 or more: the CPU split of
# target and noise and the requests/s over two seconds in the middle of the run, sampled
# from a shell in the target, so that under scx_layered the sampling is not held behind
# the noise in the default layer). evaluation/experiments/redis_sat_summary.sh sums up a
# saved log.
# Every mus round also prints "@@MUS counters <scheduler> steals_owed=.. steals_idle=..
# cross_cache=.. map_changes=.. queue_jumps=.." (0 from a build that predates the last)
# summed over the round from the runner's --stats lines: in a build with
# evaluation/experiments/wake_refusals.patch applied, the first four count the boosted
# pair's refused wake-ups (see that patch).
# With BPF_STATS=1 in /exp.conf, kernel.bpf_stats_enabled is switched on once, before
# the first round (under the stock scheduler, nothing busy: see bench.sh's cost phase),
# and every run under a sched_ext scheduler also prints bpf_us=<the time its struct_ops
# programs ran, in us> (pass bpftool with --tool bpftool).
. /lib.sh
SCHEDS="mus-runner-old mus-runner scx_layered" ROUNDS=4 N=15000 MODE=csv BPF_STATS=0
CLIENT_CG=target
[ -f /exp.conf ] && . /exp.conf
[ $BPF_STATS = 1 ] && echo 1 >/proc/sys/kernel/bpf_stats_enabled

mkcg target
mkcg noise
mkcg client

redis_in_target

# Both vCPUs' count of interrupt $1 (RES, CAL) in /proc/interrupts.
ipis() { awk -v k="$1:" '$1 == k { print $2 + $3 }' /proc/interrupts; }
# The runner's --stats counters in /tmp/sched.log, summed. A build from before the
# counter table logs "map changes=N | steals: owed=N idle=N | cross-cache
# migrations=N | queue jumps=N"; a newer one logs name=value pairs (mus-common's table:
# steals, idle_steals, llc_migrations, map_changes, queue_jumps).
counters() {
	awk '
		function grab(label) {
			return match($0, label "=[0-9]+") ? substr($0, RSTART + length(label) + 1, RLENGTH - length(label) - 1) : 0
		}
		/steals: owed=/ {
			v["steals"] += grab("owed"); v["idle_steals"] += grab("idle")
			v["llc_migrations"] += grab("migrations"); v["map_changes"] += grab("map changes")
			v["queue_jumps"] += grab("queue jumps")
			next
		}
		{ for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2) v[kv[1]] += kv[2] }
		END {
			print "steals_owed=" v["steals"] + 0 " steals_idle=" v["idle_steals"] + 0 \
				" cross_cache=" v["llc_migrations"] + 0 " map_changes=" v["map_changes"] + 0 \
				" queue_jumps=" v["queue_jumps"] + 0
		}' /tmp/sched.log
}
# The time (us) the struct_ops programs loaded now have run (kernel.bpf_stats_enabled).
bpf_us() {
	[ $BPF_STATS = 1 ] || { echo 0; return; }
	prog_stats | tr ' ' '\n' | awk -F'[=:]' '{t += $2} END {print int(t / 1000)}'
}
# The target's CPU pressure: time (us) some of its tasks waited for a CPU.
psi() { sed -n 's/^some .*total=//p' $CG/target/cpu.pressure; }
# redis-server's total_commands_processed.
served() { redis-cli -p 6379 info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p'; }
# redis-server's /proc/PID/sched field $1.
srv() { awk -v k="$1" '$1 == k { print $3 }' /proc/$SERVER/sched; }

# One run of saturated Redis under $1 (a mus-runner build, scx_layered, or stock_alone:
# the stock scheduler without the noise, the floor no scheduler can go below).
round() {
	case $1 in
	stock_alone) ;;
	scx_layered) start_sched /tmp/sched.log scx_layered f:/layered.json ;;
	*) start_sched /tmp/sched.log $1 --stats 1 ;;
	esac
	if [ $1 != stock_alone ]; then
		echo "@@MUS ops $1 $(cat $SCX/root/ops)"
		sleep 1
		[ $1 != scx_layered ] && mus-agent boost --cgroup $CG/target >/dev/null
		noise_on
	fi
	c0=$(ctxt) t0=$(usage target) n0=$(usage noise) s0=$(now_cs) p0=$(psi) b0=$(bpf_us)
	r0=$(ipis RES) k0=$(ipis CAL) v0=$(srv nr_voluntary_switches)
	i0=$(srv nr_involuntary_switches) m0=$(srv se.nr_migrations)
	sh -c "echo \$\$ > $CG/$CLIENT_CG/cgroup.procs && exec redis-benchmark -p 6379 \
		-c 4 -t get -n $N $([ $MODE = hist ] || echo --csv)" >/tmp/rb.out 2>/dev/null &
	B=$!
	[ $MODE = mid ] && mid_sample $1
	wait $B
	c1=$(ctxt) t1=$(usage target) n1=$(usage noise) s1=$(now_cs) p1=$(psi) b1=$(bpf_us)
	r1=$(ipis RES) k1=$(ipis CAL) v1=$(srv nr_voluntary_switches)
	i1=$(srv nr_involuntary_switches) m1=$(srv se.nr_migrations)
	if [ $MODE = hist ]; then
		echo "@@MUS hist $1 $(sed -n '/Cumulative distribution/,/Summary/p' /tmp/rb.out | tr '\n' ';')"
		line=$(sed -n '/throughput summary/s/.*: \([0-9.]*\) requests.*/x,\1/p' /tmp/rb.out),0,0,0,0,$(sed -n '/avg *min/{n;p}' /tmp/rb.out | awk '{print $5}')
	else
		line=$(tail -1 /tmp/rb.out | tr -d '"')
	fi
	echo "@@MUS sat $1 rps=$(echo $line | cut -d, -f2) p99_ms=$(echo $line | cut -d, -f7) n=$N" \
		"ctxt=$((c1 - c0)) target_us=$((t1 - t0)) noise_us=$((n1 - n0)) elapsed_cs=$((s1 - s0))" \
		"res=$((r1 - r0)) cal=$((k1 - k0)) srv_vol=$((v1 - v0)) srv_invol=$((i1 - i0))" \
		"srv_migr=$((m1 - m0)) psi_ms=$(((p1 - p0) / 1000))" \
		"$([ $BPF_STATS = 1 ] && [ $1 != stock_alone ] && echo bpf_us=$((b1 - b0)))"
	kill_cgroups noise
	[ $1 = stock_alone ] && return
	stop_sched
	[ $1 != scx_layered ] && echo "@@MUS counters $1 $(counters)"
}

# MODE=mid: two seconds in the middle of the run under $1, sampled from the target.
mid_sample() {
	echo $$ >$CG/target/cgroup.procs
	sleep 1.5
	t0=$(usage target) n0=$(usage noise) s0=$(now_cs) q0=$(served)
	sleep 2
	t1=$(usage target) n1=$(usage noise) s1=$(now_cs) q1=$(served)
	echo $$ >$CG/cgroup.procs
	echo "@@MUS mid $1 target_pct=$(((t1 - t0) / (s1 - s0) / 100))" \
		"noise_pct=$(((n1 - n0) / (s1 - s0) / 100)) rps=$(((q1 - q0) * 100 / (s1 - s0)))"
}

each_round
