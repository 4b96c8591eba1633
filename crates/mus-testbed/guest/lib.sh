# The guest shell library: what the project's scenarios share (the scheduler's pin and
# sched_ext's state, cgroups, CPU hogs and CPU time, the bench's noise and probes).
# Owned by mus-testbed: its `Scenario::with_guest_lib` puts it before a scenario's own
# script (mus-runner's and mus-agent's guest tests, `cargo xtask demo` and `bench`), and
# the experiments in evaluation/experiments source it as /lib.sh, passed with
# `cargo xtask vm-run ... --file crates/mus-testbed/guest/lib.sh:/lib.sh`.
PIN=/sys/fs/bpf/mus/high_prio_cgroups
STATS=/sys/fs/bpf/mus/mus_stats
CG=/sys/fs/cgroup
SCX=/sys/kernel/sched_ext

# Waits up to $2 seconds (default 10) for sched_ext's state to read $1. Waiting for
# "enabled" gets 60 s more: an attach is a load, and the kernel's verifier took 3-4 s
# of it on 6.12 under TCG on a quiet host but 12 s on a slow CI machine, where a 10 s
# wait failed a test whose scheduler was fine.
wait_state() {
	limit=${2:-10}
	[ "$1" = enabled ] && limit=$((limit + 60))
	i=0
	while [ $i -lt $((limit * 20)) ]; do
		[ "$(cat $SCX/state)" = "$1" ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	echo "wait_state: still $(cat $SCX/state), wanted $1"
	return 1
}

# For experiments: waits (wait_state's time, or $2 seconds more) until the scheduler
# started in the background (its log in $1) has attached, or prints the log's tail and
# exits. A build the verifier refuses would otherwise be measured as the stock scheduler.
attached_or_exit() {
	wait_state enabled ${2:-10} && return 0
	echo "@@MUS the runner did not attach:"
	tail -20 "$1"
	exit 1
}

# For experiments: starts the scheduler command "$2..." (a mus-runner build, a peer) in
# the background, logging to $1, as SCHED_PID, and waits (attached_or_exit, 30 s more:
# the peers verify for a while under TCG) until it has attached.
start_sched() {
	sched_log=$1
	shift
	"$@" >"$sched_log" 2>&1 &
	SCHED_PID=$!
	attached_or_exit "$sched_log" 30
}

# For experiments: stops start_sched's scheduler with SIGTERM (or signal $1), waits for
# it to exit and for sched_ext to be off.
stop_sched() {
	kill -${1:-TERM} $SCHED_PID
	wait $SCHED_PID
	wait_state disabled 30
}

# Starts mus-runner in the background, logging to $1; waits until it is attached.
start_runner() {
	log=$1
	shift
	mus-runner "$@" >"$log" 2>&1 &
	RUNNER=$!
	wait_state enabled
}

# An endless CPU hog in cgroup $1 (a directory under $CG), started in the background.
hog() {
	sh -c "echo \$\$ > $CG/$1/cgroup.procs && while :; do :; done" &
}

# Runs "$@" inside cgroup $CG/$1 (shifted off), in the foreground. (In the background,
# $! would be the function's subshell, not the command: backgrounded commands that a
# caller kills by PID move themselves, as hog does.)
in_cg() {
	cg=$1
	shift
	sh -c "echo \$\$ > $CG/$cg/cgroup.procs && exec \"\$@\"" in_cg "$@"
}

# CPU time (microseconds) cgroup $1 has used.
usage() {
	sed -n 's/^usage_usec //p' "$CG/$1/cpu.stat"
}

# Reports the CPU time cgroups $2 and $3 use in the next $4 seconds as
# "@@MUS $1 <usec of $2> <usec of $3>".
measure() {
	a0=$(usage "$2")
	b0=$(usage "$3")
	sleep "$4"
	a1=$(usage "$2")
	b1=$(usage "$3")
	echo "@@MUS $1 $((a1 - a0)) $((b1 - b0))"
}

# Seconds since boot, to the hundredth, as an integer number of hundredths. Not the
# digits of /proc/uptime with the dot removed: within the first second of a quick boot
# those have a leading zero ("0.98" -> 098), which shell arithmetic reads as octal and
# refuses.
now_cs() {
	awk '{ printf "%d\n", $1 * 100 + 0.5 }' /proc/uptime
}

# Kills every process in the given cgroups (under $CG) and waits until they are empty.
# Scenarios call it before stopping the runner: sched_ext flips static keys while it
# detaches, and under QEMU's multi-threaded TCG a vCPU busy in __schedule during that
# code patching has been seen, rarely, to oops on a stale int3. Real hardware is not
# affected; the tests only need the hogs until their last measurement.
kill_cgroups() {
	for cg in "$@"; do
		echo 1 >"$CG/$cg/cgroup.kill"
	done
	for cg in "$@"; do
		i=0
		while [ -n "$(cat "$CG/$cg/cgroup.procs")" ] && [ $i -lt 100 ]; do
			sleep 0.05
			i=$((i + 1))
		done
	done
}

# Creates cgroup $1 (a path under $CG, parents included) with the cpu controller
# enabled down to it, and cpu.weight $2 if given.
mkcg() {
	d=$CG
	for part in $(echo "$1" | tr / ' '); do
		echo +cpu >"$d/cgroup.subtree_control"
		d=$d/$part
		mkdir -p "$d"
	done
	[ -z "$2" ] || echo "$2" >"$d/cpu.weight"
}

# $2 CPU hogs in cgroup $1; their PIDs are added to HOG_PIDS, for a caller that must
# kill them and nothing else in the cgroup (the bench: target also holds Redis).
hogs() {
	n=$2
	while [ "$n" -gt 0 ]; do
		hog "$1"
		HOG_PIDS="$HOG_PIDS $!"
		n=$((n - 1))
	done
}

# The bench's noise, for the experiments that compare with it: 2 x CPUs of stress-ng
# matrixprod workers in cgroup "noise" (which the caller made), given a second to start.
noise_on() {
	for i in $(seq $((2 * $(nproc)))); do
		sh -c "echo \$\$ > $CG/noise/cgroup.procs && exec stress-ng --cpu 1 --cpu-method matrixprod --quiet" &
	done
	sleep 1
}

# Reports, as "@@MUS $1 <uptime cs> <usec of each cgroup> | <the same $2 seconds
# later>", the CPU time of the cgroups named after $2; the host computes shares.
measure_n() {
	key=$1
	secs=$2
	shift 2
	before="$(now_cs) $(for c in "$@"; do printf '%s ' "$(usage "$c")"; done)"
	sleep "$secs"
	after="$(now_cs) $(for c in "$@"; do printf '%s ' "$(usage "$c")"; done)"
	echo "@@MUS $key $before| $after"
}

# The $2 bytes of the number $1, little-endian, as bpftool takes a key or value.
le_bytes() {
	v=$1
	out=""
	i=0
	while [ $i -lt "$2" ]; do
		out="$out $((v & 255))"
		v=$((v >> 8))
		i=$((i + 1))
	done
	echo $out
}

# The scheduler's counter $1 (an index of enum mus_stat_idx: the guest tests set
# STAT_<NAME> for those they read), summed over CPUs, through its pin (bpftool).
counter() {
	bpftool -j map lookup pinned $STATS key $(le_bytes $1 4) |
		grep -o '"value":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'
}

# Wake-up latency of cyclictest (a wake-up every 2 ms, $2 of them) in cgroup $1, as
# "p50=<us> p99=<us> over1ms=<wake-ups> over2ms=... over5ms=...". SCHED_OTHER, or with
# $3 = fifo SCHED_FIFO priority 90: the real-time class, above every sched_ext
# scheduler and the fair class, shows what the machine itself adds to a wake-up.
latency_probe() {
	prio="-p0 --policy=other"
	[ "${3:-}" = fifo ] && prio="-p90 --policy=fifo"
	rm -f /tmp/lat.hist
	in_cg "$1" cyclictest -m $prio -i 2000 -l "$2" -q -h 60000 --histfile=/tmp/lat.hist \
		>/dev/null 2>&1
	awk '/^[0-9]/ { v[n] = $1 + 0; c[n] = $2 + 0; tot += $2; n++ }
		END { s = 0; for (i = 0; i < n; i++) { s += c[i];
			if (!a && s >= tot * 0.5) a = v[i]; if (!b && s >= tot * 0.99) b = v[i] }
			printf "p50=%d p99=%d", a, b
			for (t = 1000; t <= 5000; t += 1000) { k = 0
				for (i = 0; i < n; i++) if (v[i] >= t) k += c[i]
				printf " over%dms=%d", t / 1000, k }
			printf "\n" }' /tmp/lat.hist
}

# Context switches since boot, all CPUs (/proc/stat's ctxt).
ctxt() {
	sed -n 's/^ctxt //p' /proc/stat
}

# hackbench -g 2 -l 300 (message passing), reported as "@@MUS hb $1 <seconds>
# ctxt=<context switches during the run>" (the experiments in evaluation/experiments).
hb() {
	x0=$(ctxt)
	t=$(hackbench -g 2 -l 300 2>&1 | sed -n 's/^Time: *//p')
	x1=$(ctxt)
	echo "@@MUS hb $1 $t ctxt=$((x1 - x0))"
}

# The scheduler's struct_ops programs as "name=run_time_ns:run_cnt" words, from
# bpftool's JSON (one object per program).
prog_stats() {
	bpftool prog show -j | sed 's/},{"id"/}\n{"id"/g' | grep '"type":"struct_ops"' |
		sed -n 's/.*"name":"\([^"]*\)".*"run_time_ns":\([0-9]*\),"run_cnt":\([0-9]*\).*/\1=\2:\3/p' |
		tr '\n' ' '
}

# The experiments' Redis: redis-server on 127.0.0.1:6379 in cgroup "target" (which the
# caller made), its PID in SERVER, given two seconds to start.
redis_in_target() {
	sh -c "echo \$\$ > $CG/target/cgroup.procs && exec redis-server --port 6379 \
		--bind 127.0.0.1 --save '' --appendonly no --daemonize no" >/tmp/redis.log 2>&1 &
	SERVER=$!
	sleep 2
}

# Every task's "tid comm run_delay_ns timeslices" into file $1 (comm without spaces),
# from /proc/<pid>/task/*/schedstat: the core keeps run_delay for every scheduling
# class, so stock and mus compare. For experiments that ask who waited.
delays() {
	for t in /proc/[0-9]*/task/[0-9]*; do
		read d w n <$t/schedstat 2>/dev/null || continue
		echo "${t##*/} $(tr ' ' _ <$t/comm 2>/dev/null) $w $n"
	done >$1 2>/dev/null
}

# What each task waited between delays() files $1 and $2, one "<delay, ns> <comm>
# <times run>" line per task that waited; with $3, only those whose comm matches that
# awk regex.
delay_deltas() {
	awk -v re="${3:-.}" 'NR == FNR { d[$1] = $3; n[$1] = $4; next }
		$2 ~ re { dd = $3 - d[$1]; if (dd > 0) print dd, $2, $4 - n[$1] }' $1 $2
}

# The $3 tasks (default 8) whose run-queue delay grew most between delays() files $1
# and $2, as "<comm>=<delay, us>/<times run> ..."; with $4, only those whose comm
# matches that awk regex.
top_delays() {
	delay_deltas $1 $2 "$4" | sort -rn | head -${3:-8} |
		awk '{ printf "%s=%d/%d ", $2, $1 / 1000, $3 }'
}

# Prints words $2... rotated left by $1.
rotate() {
	k=$1
	shift
	[ $# -eq 0 ] && return 0
	k=$((k % $#))
	while [ $k -gt 0 ]; do
		first=$1
		shift
		set -- "$@" $first
		k=$((k - 1))
	done
	echo "$@"
}

# Calls "round <scheduler>" for each of $SCHEDS in turn, $ROUNDS times over, round r
# starting with the r-th of them (wrapping): run in one fixed order, the build that
# always came second after another mus build was slower in callbacks its change did
# not touch (evaluation/journal/nonoise.md, "Order matters").
each_round() {
	r=1
	while [ $r -le $ROUNDS ]; do
		for sched in $(rotate $((r - 1)) $SCHEDS); do
			round $sched
		done
		r=$((r + 1))
	done
}
