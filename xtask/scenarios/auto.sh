# `cargo xtask bench auto`: does an automatic boost hold a pod's latency when noise
# arrives, and give the CPU back when it leaves? One boot, ROUNDS paired rounds; each
# round runs every condition once (their order rotated from round to round):
#   stock_noise   the kernel's scheduler, nothing raised
#   stock_w400    the kernel's scheduler, the pod's cpu.weight 400 against 100 all the time
#   mus_empty     mus, the watch daemon running with no CPUBoost: nothing boosted
#   mus_boost     mus, a permanent CPUBoost of weight 4096 (4x) through the daemon
#   mus_auto      mus, an auto CPUBoost (/opt/api/boost-auto.json) through the daemon
# Prepended by the host (xtask/src/bench/auto/mod.rs): the guest library (lib.sh),
# lib_redis.sh (redis_start), the
# settings ROUNDS, ORDER_<round> (the conditions in that round's order), QUIET1 NOISE_S
# QUIET2 RATE SAT_CONNS, the fake cluster's names
# (NS POD POD_UID NODE C1 WITHIN), then mus-agent's tests/scenarios/lib_k8s.sh (the
# kubepods-style cgroups POD_CG and NOISE, busybox httpd as the API server, wait_ready,
# wait_weight).
#
# A run lasts QUIET1 + NOISE_S + QUIET2 seconds: the pod (redis-server in the pod's
# container cgroup; its clients, redis-rate at RATE GET/s and redis-benchmark saturating
# with SAT_CONNS connections, in a cgroup of their own, CLIENT, outside kubepods: neither
# the pod nor the noise, so that a boost of the pod is a boost of the server alone)
# runs alone for QUIET1 s, 2 x CPUs stress-ng workers in the sibling
# pod NOISE from QUIET1 to QUIET1 + NOISE_S, then alone again. Every second the sampler
# notes the CPU time of both pods, the pod's cpu.pressure and (under mus) the pod's map
# weight; redis-rate reports every latency by the second it was due in; under mus_auto
# the daemon's per-interval readings (its debug log) are reported with the run's start
# on the same clock (auto_clock). Output: "@@MUS auto_*" lines, parsed by
# xtask/src/bench/auto/series.rs.

NCPU=$(nproc)
TOTAL=$((QUIET1 + NOISE_S + QUIET2))
SCHED_PID=""
WATCH=""
CLIENT=client
mkcg "$POD_CG/$C1"
mkdir -p $CG/$NOISE $CG/$CLIENT
POD_ID=$(stat -c %i $CG/$POD_CG)
echo "@@MUS auto_pod_cgroup $POD_CG $POD_ID"

# The clients run in CLIENT (the server in the pod's container cgroup, redis_start's);
# started like lib.sh's hog, so that $! is the program's PID.
in_client_bg() {
	sh -c "echo \$\$ > $CG/$CLIENT/cgroup.procs && exec \"\$@\"" in_client "$@" &
}
redis_start $POD_CG/$C1
commands() { redis-cli -p 6379 info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p'; }

# The noise: 2 x CPUs stress-ng workers in the sibling pod (as lib.sh's noise_on does in
# the cgroup "noise").
noise_pod_on() {
	for i in $(seq $((2 * NCPU))); do
		sh -c "echo \$\$ > $CG/$NOISE/cgroup.procs && exec stress-ng --cpu 1 --cpu-method matrixprod --quiet" &
	done
}

mus_on() {
	[ -n "$SCHED_PID" ] && return 0
	mus-runner >/tmp/runner.log 2>&1 &
	SCHED_PID=$!
	wait_state enabled 30 || { echo "@@MUS bench_error mus_start"; tail -20 /tmp/runner.log; }
	echo "@@MUS scheduler $(cat $SCX/root/ops)"
	echo "@@MUS runner_config $(sed -n 's/.*scheduler attached //p' /tmp/runner.log | head -1)"
}
mus_off() {
	[ -z "$SCHED_PID" ] && return 0
	ejected=1
	[ "$(cat $SCX/state)" = enabled ] && ejected=0
	echo "@@MUS auto_sched_stopped $ROUND ejected=$ejected"
	kill -TERM $SCHED_PID
	wait $SCHED_PID
	SCHED_PID=""
	wait_state disabled 20
}

# The API server serves no CPUBoost, or /opt/api/boost-$1.json.
serve_boost() {
	if [ "$1" = none ]; then
		rm -f $API/boost.json
		echo '{"apiVersion":"mus.patos.dev/v1alpha1","kind":"CPUBoostList","metadata":{"resourceVersion":"1"},"items":[]}' >$API/cpuboosts.json
	else
		cp /opt/api/boost-$1.json /opt/api/boost.json
		api_boost
	fi
}

# `mus-agent watch` serving CPUBoost $1 (none | manual | auto), ready (and for manual,
# its weight in the map) before the run starts.
daemon_on() {
	serve_boost $1
	MUS_LOG=info,mus_agent::daemon::auto_loop=debug \
		mus-agent --kubeconfig $KC --node $NODE watch --policy /opt/policy.yaml \
		--metrics-addr 127.0.0.1:9477 --resync-interval 2 --auto-interval 1 >/tmp/watch.log 2>&1 &
	WATCH=$!
	wait_ready
	kill -0 $WATCH 2>/dev/null || { echo "@@MUS bench_error watch_exited"; tail -5 /tmp/watch.log; }
	[ $1 = manual ] && wait_weight 4096 $POD_ID auto_manual_cs
}
daemon_off() {
	[ -z "$WATCH" ] && return 0
	kill -TERM $WATCH
	wait $WATCH
	WATCH=""
	# what the daemon decided each interval (auto: the signal and the weight)
	grep -E 'auto_loop|cpuboost' /tmp/watch.log | tail -${TOTAL}0 | sed "s/^/@@MUS auto_log $1 $ROUND /"
	# the daemon leaves its entries in the map when it stops (a restarted daemon resumes
	# them); the next condition starts without one (--force: the entry is the daemon's)
	mus-agent unboost --force --cgroup $CG/$POD_CG >/dev/null 2>&1
	echo "@@MUS auto_map_after $1 $ROUND $(bpftool -j map dump pinned $PIN 2>&1 | tr -d '\n ')"
}

cond_enter() {
	case $1 in
	stock_*) mus_off ;;
	mus_*) mus_on ;;
	esac
	case $1 in
	stock_w400) echo 400 >$CG/$POD_CG/cpu.weight ;;
	mus_empty) daemon_on none ;;
	mus_boost) daemon_on manual ;;
	mus_auto) daemon_on auto ;;
	esac
}
cond_leave() {
	case $1 in
	stock_w400) echo 100 >$CG/$POD_CG/cpu.weight ;;
	mus_*) daemon_off $1 ;;
	esac
}

# cpu.stat's usage_usec of cgroup $1 into variable $2, without a process.
usage_into() {
	while read -r k v; do
		[ "$k" = usage_usec ] && { eval "$2=$v"; return; }
	done <$CG/$1/cpu.stat
}

# One run of condition $1: the clients, the noise on and off on schedule, a sample a
# second; then every line reported.
run_one() {
	cond=$1
	weigh=0
	case $cond in mus_*) weigh=1 ;; esac
	: >/tmp/samples
	c0=$(commands)
	in_client_bg redis-benchmark -p 6379 -c $SAT_CONNS -t get -n 2000000000 -q >/dev/null 2>&1
	SAT=$!
	in_client_bg redis-rate --port 6379 --rate $RATE --duration $TOTAL --connections 2 \
		--key bench:key --per-second >/tmp/rr.out 2>/tmp/rr.err
	RR=$!
	read -r up _ </proc/uptime
	t0=${up%.*}${up#*.}
	# second 0 on the daemon log's clock (UTC; busybox date has no %N, stat does)
	touch /tmp/clock
	echo "@@MUS auto_clock $cond $ROUND $(TZ=UTC stat -c %y /tmp/clock)"
	s=0
	while [ $s -le $TOTAL ]; do
		# the second's start, on the schedule (not after the last sample's work)
		read -r up _ </proc/uptime
		left=$((t0 + s * 100 - ${up%.*}${up#*.}))
		[ $left -gt 0 ] && sleep $((left / 100)).$(printf %02d $((left % 100)))
		[ $s -eq $QUIET1 ] && { noise_pod_on; echo "@@MUS auto_noise_on $cond $ROUND"; }
		[ $s -eq $((QUIET1 + NOISE_S)) ] && kill_cgroups $NOISE
		read -r up _ </proc/uptime
		usage_into $POD_CG a
		usage_into $NOISE b
		read -r _ psi _ <$CG/$POD_CG/cpu.pressure
		w=-
		if [ $weigh = 1 ]; then
			w=$(bpftool -j map dump pinned $PIN 2>/dev/null | tr -d ' \n' |
				sed -n "s/.*\"key\":$POD_ID,\"value\":{\"weight\":\([0-9]*\).*/\1/p")
			w=${w:-1024}
		fi
		echo "$s ${up%.*}${up#*.} $a $b ${psi#avg10=} $w" >>/tmp/samples
		case $s in $QUIET1 | $((QUIET1 + NOISE_S))) echo "$s $(commands)" >>/tmp/commands ;; esac
		s=$((s + 1))
	done
	wait $RR || { echo "@@MUS bench_error redis_rate_$cond"; cat /tmp/rr.err; }
	kill $SAT 2>/dev/null
	wait $SAT 2>/dev/null
	c1=$(commands)
	echo "@@MUS auto_commands $cond $ROUND total=$((c1 - c0)) start=$c0 $(sed 's/ /=/' /tmp/commands | tr '\n' ' ')"
	: >/tmp/commands
	sed "s/^/@@MUS auto_sample $cond $ROUND /" /tmp/samples
	grep -v '^second' /tmp/rr.out | sed 's/ /=/' | tr '\n' ' ' | sed "s/^/@@MUS auto_rate $cond $ROUND /;s/\$/\n/"
	grep '^second' /tmp/rr.out | sed "s/^second /@@MUS auto_lat $cond $ROUND /"
}

echo "@@MUS auto_config quiet1=$QUIET1 noise=$NOISE_S quiet2=$QUIET2 rate=$RATE sat_conns=$SAT_CONNS noise_workers=$((2 * NCPU))"
start_api
api_serve 1
ROUND=1
while [ $ROUND -le $ROUNDS ]; do
	eval "order=\$ORDER_$ROUND"
	for c in $order; do
		echo "@@MUS auto_start $c $ROUND $(cut -d' ' -f1 /proc/uptime)"
		cond_enter $c
		run_one $c
		cond_leave $c
	done
	ROUND=$((ROUND + 1))
done
mus_off
echo "@@MUS auto_done $(cut -d' ' -f1 /proc/uptime)"
redis-cli -p 6379 shutdown nosave >/dev/null 2>&1
wait $REDIS
exit 0
