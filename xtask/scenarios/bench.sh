# `cargo xtask bench`: every benchmark and every scheduler inside this one boot.
# Prepended by the host: the guest library (mus-testbed's guest/lib.sh: wait_state,
# in_cg, usage, ...), lib_redis.sh (redis_start) and the settings BENCHES SCHEDS
# REPEATS REPEATS_<bench> LAT_LOOPS LAT_INTERVAL_US REDIS_RATE REDIS_SECS REDIS_CONNS
# REDIS_SAT_N REDIS_SAT_CONNS SHARE_SECS SHARE_WEIGHTS HACKBENCH_ARGS LAYERED_CONFIG CAND_ARGS.
# Everything is reported as @@MUS lines; the host does all arithmetic (busybox awk reads
# cyclictest's zero-padded numbers as octal).
#
# Schedulers (SCHEDS): stock (the kernel's EEVDF), mus (mus-runner, default flags only),
# cand (a candidate mus build, /bin/mus-runner-cand, with `cargo xtask bench --candidate`,
# started with CAND_ARGS: it runs every mus condition as its twin cand_<variant>, see
# each_cond),
# and the peers bpfland (scx_bpfland, defaults) and layered (scx_layered with
# LAYERED_CONFIG: the "target/" cgroup in a layer of weight 400 with preemption, the rest
# at 100). Each repeat visits every scheduler once, in an order rotated by the repeat and
# reversed in even repeats (sched_order), and runs each benchmark's conditions of that
# scheduler; so a scheduler is loaded once per repeat, and drift and warm-up hit all of
# them alike.
#
# A condition is "<scheduler>_<variant>"; the variants:
#   idle    nothing else runs (no noise)
#   noise   2 x CPUs CPU-bound workers (stress-ng matrixprod) in the sibling cgroup "noise"
#   plain   no knob (benchmarks whose own busy threads are the load)
#   knobs   cpu.weight=10000 on target, cpu.idle=1 on noise (stock)
#   w400    cpu.weight=400 on target against 100: the kernel's own 4x (stock)
#   fifo    the latency probe as SCHED_FIFO 90 (stock, with the noise): the floor, the
#           best a priority can do; no scheduler delays it, so its tail is the host's
#   empty   mus with an empty map
#   boost   target boosted: mus-agent boost (mus; default weight 4096 = 4x), or the
#           layered config's 400:100 boost layer (layered)
# Benchmarks with NOISE=1 add the noise to every variant but idle.
# A condition ending in "_host" is the same condition with the HOST's CPU contended: the
# guest prints "@@MUS host_hog on" before it and "@@MUS host_hog off" after it, and
# cargo xtask (which reads the console line by line) runs a busy thread on the host in
# between, so the vCPU threads compete with it. The line reaches the host in
# milliseconds; the second of settling below covers it. So host-contended and quiet
# conditions interleave in one boot, round by round.

NCPU=$(nproc)
SCHED=stock
SCHED_PID=""
HOG_PIDS=""
HOST_HOG=0
REDIS=""
mkdir -p $CG/target $CG/noise $CG/by $CG/wa $CG/wb $CG/nA $CG/nB $CG/lim
echo "+cpu" >$CG/nA/cgroup.subtree_control
echo "+cpu" >$CG/nB/cgroup.subtree_control
mkdir -p $CG/nA/x $CG/nA/y $CG/nB/z
echo "@@MUS bench_cpus $NCPU"
echo "@@MUS bench_noise_workers $((2 * NCPU))" # lib.sh's noise_on

# The name scheduler $1 attaches under (root/ops): the candidate is a mus build.
ops_of() {
	if [ $1 = cand ]; then echo mus; else echo $1; fi
}

# Waits up to 60 s (peers verify for a while under TCG) for sched_ext's state "enabled"
# with root/ops naming $1; fails at once if the scheduler's process has exited.
wait_attached() {
	i=0
	while [ $i -lt 600 ]; do
		[ "$(cat $SCX/state)" = enabled ] && grep -q "^$(ops_of $1)" $SCX/root/ops && return 0
		kill -0 $SCHED_PID 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# Stops the loaded sched_ext scheduler (SIGTERM), if any, and waits until it is off.
sched_stop() {
	[ -z "$SCHED_PID" ] && return 0
	# still attached? (the kernel's watchdog ejects a scheduler that stalls a task)
	ejected=1
	[ "$(cat $SCX/state)" = enabled ] && grep -q "^$(ops_of $SCHED)" $SCX/root/ops && ejected=0
	echo "@@MUS sched_stopped $SCHED $SCHED_REP ejected=$ejected"
	kill -TERM $SCHED_PID
	wait $SCHED_PID
	rc=$?
	[ $rc -eq 0 ] || { echo "@@MUS bench_error ${SCHED}_rc_$rc"; tail -20 /tmp/sched-$SCHED.log; }
	SCHED_PID=""
	SCHED=stock
	wait_state disabled 20
}

# Makes $1 (stock | mus | bpfland | layered) the running scheduler: start it, wait for
# sched_ext's state "enabled" with root/ops naming it.
sched_use() {
	[ "$SCHED" = "$1" ] && return 0
	sched_stop
	[ "$1" = stock ] && return 0
	log=/tmp/sched-$1.log
	case $1 in
	mus) mus-runner >$log 2>&1 & ;;
	cand) mus-runner-cand $CAND_ARGS >$log 2>&1 & ;;
	bpfland) scx_bpfland >$log 2>&1 & ;;
	layered) scx_layered f:$LAYERED_CONFIG >$log 2>&1 & ;;
	esac
	SCHED_PID=$!
	SCHED=$1
	SCHED_REP=$REP
	if ! wait_attached $1; then
		echo "@@MUS bench_error ${1}_start $(cat $SCX/root/ops 2>/dev/null)"
		tail -20 $log
		sched_stop
		return 1
	fi
	echo "@@MUS scheduler_$1 $(cat $SCX/root/ops)"
	# what the runner says it attached with (slice, preemption, ...), for the summary
	case $1 in
	mus)
		echo "@@MUS scheduler $(cat $SCX/root/ops)"
		echo "@@MUS runner_config $(sed -n 's/.*scheduler attached //p' $log | head -1)"
		;;
	cand) echo "@@MUS runner_config_cand $(sed -n 's/.*scheduler attached //p' $log | head -1)" ;;
	esac
}

# The noise is lib.sh's noise_on (2 x CPUs of stress-ng matrixprod in cgroup noise),
# stopped with kill_cgroups noise; the hogs are lib.sh's, killed here by PID (target
# also holds Redis).
hogs_off() {
	[ -z "$HOG_PIDS" ] && return 0
	kill -KILL $HOG_PIDS 2>/dev/null
	wait $HOG_PIDS 2>/dev/null
	HOG_PIDS=""
}

# Notes the clock and the CPU time of cgroups $@, for cg_report.
cg_mark() {
	CG_MARK=$(now_cs)
	for g in "$@"; do CG_MARK="$CG_MARK $(usage $g)"; done
}

# Reports the CPU time cgroups $2... (those given to cg_mark, in the same order) used
# since cg_mark as "@@MUS cgshare $1 elapsed_cs=<centiseconds> name=usec ...".
cg_report() {
	tag=$1
	shift
	t1=$(now_cs)
	t0=${CG_MARK%% *}
	rest=${CG_MARK#* }
	out=""
	for g in "$@"; do
		b0=${rest%% *}
		rest=${rest#* }
		out="$out $g=$(($(usage $g) - b0))"
	done
	echo "@@MUS cgshare $tag elapsed_cs=$((t1 - t0))$out"
}

# Reports the CPU time of cgroups $2... over $SHARE_SECS seconds (see cg_report).
measure_cgroups() {
	tag=$1
	shift
	cg_mark "$@"
	sleep $SHARE_SECS
	cg_report "$tag" "$@"
}

# Puts the machine in condition $1 (its scheduler first), adding noise when $2 is 1.
cond_enter() {
	sched_use ${1%%_*} || return 1
	base=${1%_host}
	case $base in
	stock_knobs)
		echo 10000 >$CG/target/cpu.weight
		echo 1 >$CG/noise/cpu.idle
		;;
	stock_w400) echo 400 >$CG/target/cpu.weight ;;
	mus_boost | cand_boost) mus-agent boost --cgroup $CG/target >/dev/null || echo "@@MUS bench_error boost" ;;
	esac
	[ "$2" = 1 ] && [ "${base#*_}" != idle ] && noise_on
	if [ "$base" != "$1" ]; then
		echo "@@MUS host_hog on $1 $REP"
		HOST_HOG=1
		sleep 1
	fi
	return 0
}

# Stops condition $1's load: the host's busy thread (if it runs), the hogs, the noise.
load_off() {
	if [ "$HOST_HOG" = 1 ]; then
		echo "@@MUS host_hog off $1 $REP"
		HOST_HOG=0
	fi
	hogs_off
	kill_cgroups noise
}

# Undoes cond_enter $1 (the scheduler stays: the next condition decides).
cond_leave() {
	load_off $1
	case ${1%_host} in
	stock_knobs)
		echo 100 >$CG/target/cpu.weight
		echo 0 >$CG/noise/cpu.idle
		;;
	stock_w400) echo 100 >$CG/target/cpu.weight ;;
	mus_boost | cand_boost) mus-agent unboost --cgroup $CG/target >/dev/null || echo "@@MUS bench_error unboost" ;;
	esac
}

# Runs "$3 <condition> <repeat>" for each of the conditions $2 (a list) that belong to
# the running scheduler, in repeat $REP's rotation, with noise if $1 is 1. The candidate
# runs mus's conditions as cand_<variant>.
each_cond() {
	noise=$1
	fn=$3
	mine=""
	for c in $2; do
		case ${c%%_*} in
		"$SCHED") mine="$mine $c" ;;
		mus) [ $SCHED = cand ] && mine="$mine cand_${c#mus_}" ;;
		esac
	done
	for c in $(rotate $REP $mine); do
		if cond_enter $c $noise; then
			$fn $c $REP
		else
			echo "@@MUS bench_error enter_$c"
		fi
		cond_leave $c
	done
}

# Prints the nonzero lines of a "<value> <count>" histogram file as
# "@@MUS <prefix> v:c v:c ..." lines (zero-padded numbers stay as they are).
emit_hist() {
	grep '^[0-9]' "$2" | grep -v '[[:space:]]0*$' | tr ' \t' '::' | tr -s ':' |
		xargs -n 16 echo "@@MUS $1"
}

# cyclictest in cgroup $1, reported as latency histogram lines for bench $2 under
# condition $3: SCHED_OTHER, but SCHED_FIFO 90 (as chrt -f 90) in condition stock_fifo
# and stock_fifo_host.
probe() {
	policy="-p0 --policy=other"
	[ ${3%_host} = stock_fifo ] && policy="-p90 --policy=fifo"
	in_cg $1 cyclictest -m $policy -i $LAT_INTERVAL_US -l $LAT_LOOPS \
		-q -h 60000 --histfile=/tmp/lat.hist >/tmp/cyclictest.log 2>&1 ||
		{ echo "@@MUS bench_error cyclictest_$3"; cat /tmp/cyclictest.log; }
	# the measurement is over: printing the 60000-bucket histogram through busybox is
	# slow under TCG, slower still with the load running
	load_off $3
	emit_hist "lat_hist $2 $3 $4" /tmp/lat.hist
	ovf=$(sed -n 's/^# Histogram Overflows: *//p' /tmp/lat.hist)
	max=$(sed -n 's/^# Max Latencies: *//p' /tmp/lat.hist)
	echo "@@MUS lat_done $2 $3 $4 overflows=$ovf max=$max"
}

NOISY_CONDS="stock_idle stock_noise stock_knobs mus_empty mus_boost bpfland_noise layered_boost"

# 1. latency: wake-up latency of a periodic probe in the target cgroup, under noise;
# the floor: the same probe as SCHED_FIFO 90 under stock (above every fair and
# sched_ext task, so no scheduler delays it: its tail is the host's stalls); and the
# boosted probe, its references and its floor again with the host contended.
run_latency() { probe target latency $1 $2; }
bench_latency() {
	each_cond 1 "$NOISY_CONDS stock_fifo stock_idle_host stock_knobs_host mus_boost_host stock_fifo_host" run_latency
}

# 2. redis: Redis request latency at a fixed rate. Server and redis-rate (the repo's
# open-loop client, evaluation/redis-rate) in target, on loopback. redis-rate prints
# "name value" lines (requests, errors, achieved_rate, p50_us ... max_us), passed on as
# name=value pairs.
run_redis() {
	in_cg target redis-rate --port 6379 --rate $REDIS_RATE --duration $REDIS_SECS \
		--connections $REDIS_CONNS --key bench:key >/tmp/rr.out 2>/tmp/rr.err ||
		{ echo "@@MUS bench_error redis_rate_$1"; cat /tmp/rr.err; }
	[ -s /tmp/rr.out ] && echo "@@MUS redis_rate $1 $2 $(sed 's/ /=/' /tmp/rr.out | tr '\n' ' ')"
}
bench_redis() { each_cond 1 "$NOISY_CONDS" run_redis; }

# redis-benchmark's closed loop in target ($REDIS_SAT_N GETs over $REDIS_SAT_CONNS
# connections); its CSV line, "GET",rps,avg,min,p50,p95,p99,max (ms), into /tmp/rb.csv.
redis_benchmark() {
	in_cg target redis-benchmark -p 6379 -c $REDIS_SAT_CONNS -t get -n $REDIS_SAT_N \
		--csv 2>/dev/null | tail -1 | tr -d '"' >/tmp/rb.csv
}

# Prints redis_benchmark's line as "@@MUS $1 <line>", or an error naming $2 if
# redis-benchmark printed none.
redis_benchmark_report() {
	line=$(cat /tmp/rb.csv)
	case $line in
	GET,*) echo "@@MUS $1 $line" ;;
	*) echo "@@MUS bench_error redis_benchmark_$2 $line" ;;
	esac
}

# 3. redis_sat: Redis driven as hard as it goes (redis_benchmark) in target, under noise.
# The CPU time the target and the noise got meanwhile tells what a tail bought: a boost
# that keeps the factor it promises leaves the noise its share.
run_redis_sat() {
	cg_mark target noise
	redis_benchmark
	cg_report "redis_sat $1 $2" target noise
	redis_benchmark_report "redis_sat $1 $2" $1
}
bench_redis_sat() {
	each_cond 1 "stock_noise stock_w400 mus_boost bpfland_noise layered_boost" run_redis_sat
}

# 4. bystander: the probe in an unboosted cgroup ("by") next to the noise and a busy
# boosted target (one busy loop per CPU): what everybody else on the node feels; its
# floor (the probe SCHED_FIFO 90, stock), and the same with the host contended.
run_bystander() {
	hogs target $NCPU
	sleep 1
	probe by bystander $1 $2
}
bench_bystander() {
	each_cond 1 "stock_noise stock_w400 mus_boost bpfland_noise layered_boost stock_fifo stock_w400_host mus_boost_host stock_fifo_host" run_bystander
}

# 5. threads: target with 1 busy thread against noise with 8; target's share of the two.
run_threads() {
	hogs target 1
	hogs noise 8
	sleep 1
	measure_cgroups "threads $1 $2" target noise
}
bench_threads() {
	each_cond 0 "stock_plain stock_w400 mus_empty mus_boost bpfland_plain layered_boost" run_threads
}

# 6. weights (empty map): flat, wa at cpu.weight 300 against wb at 100, two busy threads
# each; nested, nA (200) with children x (1 thread) and y (2) against nB (100) with z (2).
run_weights() {
	hogs wa 2
	hogs wb 2
	sleep 1
	measure_cgroups "weights_flat $1 $2" wa wb
	hogs_off
	hogs nA/x 1
	hogs nA/y 2
	hogs nB/z 2
	sleep 1
	measure_cgroups "weights_nested $1 $2" nA nB nA/x nA/y nB/z
}
bench_weights() {
	echo 300 >$CG/wa/cpu.weight
	echo 200 >$CG/nA/cpu.weight
	each_cond 0 "stock_plain mus_empty bpfland_plain layered_plain" run_weights
}

# 7. limit: lim with cpu.max "50000 100000" (half a CPU) and two busy threads.
run_limit() {
	hogs lim 2
	sleep 1
	measure_cgroups "limit $1 $2" lim
}
bench_limit() {
	echo "50000 100000" >$CG/lim/cpu.max
	each_cond 0 "stock_plain mus_empty bpfland_plain layered_plain" run_limit
}

# 8. share (mus only, and the candidate as share_cand): two hogs in target, two in
# noise, target at each weight (1024 = not in the map), rotated.
bench_share() {
	case $SCHED in
	mus) key=share ;;
	cand) key=share_cand ;;
	*) return 0 ;;
	esac
	hogs target 2
	hogs noise 2
	sleep 1
	for w in $(rotate $((REP - 1)) $SHARE_WEIGHTS); do
		if [ $w -eq 1024 ]; then
			mus-agent unboost --cgroup $CG/target >/dev/null 2>&1
		else
			mus-agent boost --cgroup $CG/target --weight $w >/dev/null || echo "@@MUS bench_error boost_$w"
		fi
		sleep 1
		measure "$key $w $REP" target noise $SHARE_SECS
	done
	mus-agent unboost --cgroup $CG/target >/dev/null 2>&1
	hogs_off
}

# 9. overhead: hackbench (no noise) under every scheduler (mus with an empty map).
run_overhead() {
	t=$(in_cg target hackbench $HACKBENCH_ARGS 2>&1 | sed -n 's/^Time: *//p')
	echo "@@MUS hackbench $1 $2 $t"
}
bench_overhead() {
	sleep 1
	each_cond 0 "stock_idle mus_empty_idle bpfland_idle layered_idle" run_overhead
}

# 10. cost: per-decision cost of each sched_ext scheduler's callbacks during hackbench,
# from the kernel's BPF run-time statistics (lib.sh's prog_stats), and the context
# switches in that time. Run as a phase of its own after the other benchmarks (see the
# end of this script).
bench_cost() {
	c=${SCHED}_idle
	sleep 1
	echo "@@MUS cost_before $c $REP $(prog_stats)"
	x0=$(ctxt)
	t=$(in_cg target hackbench $HACKBENCH_ARGS 2>&1 | sed -n 's/^Time: *//p')
	x1=$(ctxt)
	echo "@@MUS cost_after $c $REP $(prog_stats)"
	echo "@@MUS cost_run $c $REP ctxt=$((x1 - x0)) seconds=$t"
}

# 11. rr: request/response with nothing else running (issue 20's "no cost where nothing
# contends"): redis_benchmark with no noise, under stock (its baseline), mus boosted and
# the peers, each condition twice: target confined to one CPU ($RR_CPU) by cpuset.cpus,
# as kubelet's static CPU manager confines a Guaranteed pod ("one"; the server too, it
# lives in target), and unconfined ("all"). Per run, besides the CSV line: the context
# switches (all CPUs) and the target's CPU time, which the host divides by the requests.
# The cpuset controller is on from the start of the boot (below), target's cpuset.cpus
# empty (its parent's CPUs) but during the confined run.
RR_CONDS="stock_idle mus_boost bpfland_idle layered_boost"
RR_CPU=$((NCPU - 1))
# One run, confined ($1 = one) or not ($1 = all); RR_CTXT and RR_US its switches and
# target's CPU time.
rr_once() {
	[ $1 = one ] && echo $RR_CPU >$CG/target/cpuset.cpus
	c0=$(ctxt) u0=$(usage target)
	redis_benchmark
	c1=$(ctxt) u1=$(usage target)
	echo "" >$CG/target/cpuset.cpus
	RR_CTXT=$((c1 - c0)) RR_US=$((u1 - u0))
}
run_rr() {
	for mode in one all; do
		rr_once $mode
		redis_benchmark_report "rr $mode $1 $2 requests=$REDIS_SAT_N ctxt=$RR_CTXT target_us=$RR_US" rr_$1
	done
}
bench_rr() { each_cond 0 "$RR_CONDS" run_rr; }
# The same runs in the statistics phase (end of this script), for the BPF time per
# request only: "@@MUS rr_bpf <mode> <cond> <repeat> <requests> <prog_stats before> |
# <prog_stats after>". Apart from run_rr, so that its figures pay no statistics.
bench_rr_bpf() {
	each_cond 0 "$RR_CONDS" run_rr_bpf
}
run_rr_bpf() {
	for mode in one all; do
		s0=$(prog_stats)
		rr_once $mode
		echo "@@MUS rr_bpf $mode $1 $2 $REDIS_SAT_N $s0| $(prog_stats)"
	done
}

case " $BENCHES " in
*" redis "* | *" redis_sat "* | *" rr "*) redis_start target ;;
esac
# rr's confined runs need the cpuset controller. Enabled once, here, under the stock
# scheduler: a cpuset coming online or going flips the kernel's cpusets_enabled static
# key, and text patching while a BPF scheduler runs is what oopsed this guest before
# (lib.sh's kill_cgroups). With every cpuset.cpus empty it changes no task's CPUs.
case " $BENCHES " in
*" rr "*) echo +cpuset >$CG/cgroup.subtree_control ;;
esac
echo "@@MUS lat_config loops=$LAT_LOOPS interval_us=$LAT_INTERVAL_US"
echo "@@MUS redis_config client=redis-rate rate=$REDIS_RATE seconds=$REDIS_SECS connections=$REDIS_CONNS test=get"
echo "@@MUS redis_sat_config client=redis-benchmark connections=$REDIS_SAT_CONNS requests=$REDIS_SAT_N test=get"
echo "@@MUS rr_config client=redis-benchmark connections=$REDIS_SAT_CONNS requests=$REDIS_SAT_N test=get noise=none confined_cpu=$RR_CPU"
echo "@@MUS overhead_config hackbench $HACKBENCH_ARGS"

# The schedulers' order in repeat $1: rotated by the repeat, so that each takes each place,
# and reversed in even repeats, so that each follows more than one other. A scheduler's
# turn can leave the guest in a state that helps or hurts the next one; with rotation
# alone each always followed the same one (mus stock, the candidate mus), and an A/A
# control saw mus's twin lose to it in most rounds (evaluation/journal/paired.md).
sched_order() {
	o=""
	for s in $(rotate $1 $SCHEDS); do
		if [ $(($1 % 2)) = 0 ]; then o="$s $o"; else o="$o $s"; fi
	done
	echo $o
}

REP=1
while [ $REP -le $REPEATS ]; do
	for s in $(sched_order $REP); do
		echo "@@MUS sched_start $s $REP $(cut -d' ' -f1 /proc/uptime)"
		if sched_use $s; then
			for b in $(rotate $REP $BENCHES); do
				# a benchmark whose figures are steady runs fewer repeats (REPEATS_<bench>)
				eval "n=\${REPEATS_$b:-$REPEATS}"
				[ $REP -le $n ] && [ $b != cost ] || continue
				echo "@@MUS bench_start $b $s $REP $(cut -d' ' -f1 /proc/uptime)"
				bench_$b || echo "@@MUS bench_error $b"
				hogs_off
				kill_cgroups noise
			done
		fi
		echo "@@MUS sched_end $s $REP $(cut -d' ' -f1 /proc/uptime)"
	done
	REP=$((REP + 1))
done
sched_stop

# The statistics phase: cost, and rr's BPF time per request (bench_rr_bpf).
# kernel.bpf_stats_enabled flips a static key: flipped while a BPF scheduler ran (the
# first version of this script did so inside each scheduler's turn), it oopsed the TCG
# guest once on a stale int3 in __bpf_prog_exit, the same text-patching race lib.sh's
# kill_cgroups describes. So the statistics go on and off only here, under the stock
# scheduler with nothing busy, and stay on while each sched_ext scheduler in turn runs
# these benchmarks.
STATS_BENCHES=""
case " $BENCHES " in *" cost "*) STATS_BENCHES=cost ;; esac
case " $BENCHES " in *" rr "*) STATS_BENCHES="$STATS_BENCHES rr_bpf" ;; esac
if [ -n "$STATS_BENCHES" ]; then
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
	# cost's repeats; without cost (rr's BPF time per request alone, a reading, not a
	# target) at most 5, however many rounds rr ran
	n=${REPEATS_cost:-5}
	[ $n -gt $REPEATS ] && n=$REPEATS
	REP=1
	while [ $REP -le $n ]; do
		for s in $(sched_order $REP); do
			[ $s = stock ] && continue
			sched_use $s || continue
			for b in $STATS_BENCHES; do
				echo "@@MUS bench_start $b $s $REP $(cut -d' ' -f1 /proc/uptime)"
				bench_$b || echo "@@MUS bench_error $b"
			done
		done
		REP=$((REP + 1))
	done
	sched_stop
	echo 0 >/proc/sys/kernel/bpf_stats_enabled
fi
echo "@@MUS bench_done $(cut -d' ' -f1 /proc/uptime)"
[ -n "$REDIS" ] && { redis-cli -p 6379 shutdown nosave >/dev/null 2>&1; wait $REDIS; }
exit 0
