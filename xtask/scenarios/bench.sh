# `cargo xtask bench`: the issue-4 benchmarks, all conditions inside this one boot.
# Prepended by the host: lib.sh (wait_state, start_runner, hog, usage, measure) and the
# settings BENCHES REPEATS LAT_LOOPS LAT_INTERVAL_US REDIS_RATE REDIS_SECS REDIS_CONNS
# SHARE_SECS SHARE_WEIGHTS HACKBENCH_ARGS.
# Everything is reported as @@MUS lines; the host does all arithmetic (busybox awk reads
# cyclictest's zero-padded numbers as octal).
#
# Conditions (the same names on the host):
#   stock_idle   default scheduler, no noise
#   stock_noise  default scheduler, noise
#   stock_knobs  default scheduler, noise, cpu.weight=10000 on target, cpu.idle=1 on noise
#   mus_empty    mus loaded, empty map, noise
#   mus_boost    mus loaded, target boosted (mus-agent's default weight), noise
# Noise: 2 x CPUs CPU-bound workers (stress-ng matrixprod) in the sibling cgroup "noise".

NCPU=$(nproc)
NOISE_N=$((2 * NCPU))
RUNNER=""
NOISE_PIDS=""
mkdir -p $CG/target $CG/noise
echo "@@MUS bench_cpus $NCPU"
echo "@@MUS bench_noise_workers $NOISE_N"

# Runs "$@" inside cgroup $CG/$1 (shifted off), in the foreground.
in_cg() {
	cg=$1
	shift
	sh -c "echo \$\$ > $CG/$cg/cgroup.procs && exec \"\$@\"" in_cg "$@"
}

runner_on() {
	[ -n "$RUNNER" ] && return 0
	start_runner /tmp/runner.log || { echo "@@MUS bench_error runner_start"; cat /tmp/runner.log; return 1; }
	echo "@@MUS scheduler $(cat $SCX/root/ops)"
	# what the runner says it attached with (slice, preemption, ...), for the summary
	echo "@@MUS runner_config $(sed -n 's/.*scheduler attached //p' /tmp/runner.log | head -1)"
}

runner_off() {
	[ -z "$RUNNER" ] && return 0
	kill -TERM $RUNNER
	wait $RUNNER
	rc=$?
	RUNNER=""
	[ $rc -eq 0 ] || { echo "@@MUS bench_error runner_rc_$rc"; tail -20 /tmp/runner.log; }
	wait_state disabled
}

noise_on() {
	for i in $(seq $NOISE_N); do
		if command -v stress-ng >/dev/null; then
			sh -c "echo \$\$ > $CG/noise/cgroup.procs && exec stress-ng --cpu 1 --cpu-method matrixprod --quiet" &
		else
			sh -c "echo \$\$ > $CG/noise/cgroup.procs && while :; do :; done" &
		fi
		NOISE_PIDS="$NOISE_PIDS $!"
	done
	sleep 1
}

noise_off() {
	[ -z "$NOISE_PIDS" ] && return 0
	kill -TERM $NOISE_PIDS 2>/dev/null
	wait $NOISE_PIDS 2>/dev/null
	NOISE_PIDS=""
	i=0
	while [ -n "$(cat $CG/noise/cgroup.procs)" ] && [ $i -lt 100 ]; do
		kill -KILL $(cat $CG/noise/cgroup.procs) 2>/dev/null
		sleep 0.1
		i=$((i + 1))
	done
}

# Puts the machine in condition $1.
cond_enter() {
	case $1 in
	stock_idle) runner_off ;;
	stock_noise) runner_off; noise_on ;;
	stock_knobs)
		runner_off
		echo 10000 >$CG/target/cpu.weight
		echo 1 >$CG/noise/cpu.idle
		noise_on
		;;
	mus_empty) runner_on; noise_on ;;
	mus_boost)
		runner_on
		mus-agent boost --cgroup $CG/target >/dev/null || echo "@@MUS bench_error boost"
		noise_on
		;;
	esac
}

# Undoes cond_enter $1 (the scheduler stays as it is: the next condition decides).
cond_leave() {
	noise_off
	case $1 in
	stock_knobs)
		echo 100 >$CG/target/cpu.weight
		echo 0 >$CG/noise/cpu.idle
		;;
	mus_boost) mus-agent unboost --cgroup $CG/target >/dev/null || echo "@@MUS bench_error unboost" ;;
	esac
}

# The order of the conditions in repeat $1: the stock group and the mus group are each
# rotated by the repeat number, and which group comes first alternates, so that drift
# (and warm-up) hits every condition alike while the scheduler switches only once.
cond_order() {
	r=$1
	case $((r % 3)) in
	0) stock="stock_idle stock_noise stock_knobs" ;;
	1) stock="stock_noise stock_knobs stock_idle" ;;
	2) stock="stock_knobs stock_idle stock_noise" ;;
	esac
	case $((r % 2)) in
	0) echo "$stock mus_empty mus_boost" ;;
	1) echo "mus_boost mus_empty $stock" ;;
	esac
}

# Prints the nonzero lines of a "<value> <count>" histogram file as
# "@@MUS <prefix> v:c v:c ..." lines (zero-padded numbers stay as they are).
emit_hist() {
	grep '^[0-9]' "$2" | grep -v '[[:space:]]0*$' | tr ' \t' '::' | tr -s ':' |
		xargs -n 16 echo "@@MUS $1"
}

# 1. Wake-up latency of a periodic SCHED_OTHER probe in the target cgroup.
bench_latency() {
	echo "@@MUS lat_config loops=$LAT_LOOPS interval_us=$LAT_INTERVAL_US"
	r=1
	while [ $r -le $REPEATS ]; do
		for c in $(cond_order $r); do
			cond_enter $c
			in_cg target cyclictest -m -p0 --policy=other -i $LAT_INTERVAL_US -l $LAT_LOOPS \
				-q -h 60000 --histfile=/tmp/lat.hist >/tmp/cyclictest.log 2>&1 ||
				{ echo "@@MUS bench_error cyclictest_$c"; cat /tmp/cyclictest.log; }
			cond_leave $c
			emit_hist "lat_hist $c $r" /tmp/lat.hist
			ovf=$(sed -n 's/^# Histogram Overflows: *//p' /tmp/lat.hist)
			max=$(sed -n 's/^# Max Latencies: *//p' /tmp/lat.hist)
			echo "@@MUS lat_done $c $r overflows=$ovf max=$max"
		done
		r=$((r + 1))
	done
}

# 2. Redis request latency at a fixed rate: server and redis-rate (the repo's open-loop
# client, evaluation/redis-rate) in the target cgroup, on loopback. redis-rate prints
# "name value" lines (requests, errors, achieved_rate, p50_us ... max_us), passed on as
# name=value pairs.
bench_redis() {
	in_cg target redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no --logfile /tmp/redis.log &
	REDIS=$!
	i=0
	until redis-cli -p 6379 ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 100 ] && { echo "@@MUS bench_error redis_start"; cat /tmp/redis.log; return 1; }
		sleep 0.1
	done
	# a 3-byte value, as redis-benchmark's default
	redis-cli -p 6379 set bench:key xxx >/dev/null
	echo "@@MUS redis_config client=redis-rate rate=$REDIS_RATE seconds=$REDIS_SECS connections=$REDIS_CONNS test=get"
	r=1
	while [ $r -le $REPEATS ]; do
		for c in $(cond_order $r); do
			cond_enter $c
			in_cg target redis-rate --port 6379 --rate $REDIS_RATE --duration $REDIS_SECS \
				--connections $REDIS_CONNS --key bench:key >/tmp/rr.out 2>/tmp/rr.err ||
				{ echo "@@MUS bench_error redis_rate_$c"; cat /tmp/rr.err; }
			cond_leave $c
			if [ -s /tmp/rr.out ]; then
				echo "@@MUS redis_rate $c $r $(sed 's/ /=/' /tmp/rr.out | tr '\n' ' ')"
			fi
		done
		r=$((r + 1))
	done
	redis-cli -p 6379 shutdown nosave >/dev/null 2>&1
	wait $REDIS
}

# 3. CPU share: two hogs in target, two in noise, mus loaded, target at each weight
# (1024 = not in the map).
bench_share() {
	runner_on || return 1
	hog target; H1=$!; hog target; H2=$!
	hog noise; H3=$!; hog noise; H4=$!
	sleep 1
	r=1
	while [ $r -le $REPEATS ]; do
		# rotate the weights too
		set -- $SHARE_WEIGHTS
		k=$(((r - 1) % $#))
		while [ $k -gt 0 ]; do
			first=$1
			shift
			set -- "$@" $first
			k=$((k - 1))
		done
		for w in "$@"; do
			if [ $w -eq 1024 ]; then
				mus-agent unboost --cgroup $CG/target >/dev/null 2>&1
			else
				mus-agent boost --cgroup $CG/target --weight $w >/dev/null || echo "@@MUS bench_error boost_$w"
			fi
			sleep 1
			measure "share $w $r" target noise $SHARE_SECS
		done
		r=$((r + 1))
	done
	mus-agent unboost --cgroup $CG/target >/dev/null 2>&1
	kill $H1 $H2 $H3 $H4
	wait $H1 $H2 $H3 $H4 2>/dev/null
	return 0
}

# 4. Overhead: hackbench (no noise) under the stock scheduler vs mus with an empty map.
bench_overhead() {
	echo "@@MUS overhead_config hackbench $HACKBENCH_ARGS"
	r=1
	while [ $r -le $REPEATS ]; do
		if [ $((r % 2)) -eq 1 ]; then order="stock_idle mus_empty_idle"; else order="mus_empty_idle stock_idle"; fi
		for c in $order; do
			case $c in
			stock_idle) runner_off ;;
			mus_empty_idle) runner_on ;;
			esac
			sleep 1
			t=$(in_cg target hackbench $HACKBENCH_ARGS 2>&1 | sed -n 's/^Time: *//p')
			echo "@@MUS hackbench $c $r $t"
		done
		r=$((r + 1))
	done
}

for b in $BENCHES; do
	echo "@@MUS bench_start $b $(cut -d' ' -f1 /proc/uptime)"
	bench_$b || echo "@@MUS bench_error $b"
	runner_off
	noise_off
	echo "@@MUS bench_end $b $(cut -d' ' -f1 /proc/uptime)"
done
runner_off
[ -f /tmp/runner.log ] && tail -5 /tmp/runner.log
exit 0
