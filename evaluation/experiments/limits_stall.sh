# Whether the shell that measures a limited cgroup is held up while that cgroup's tasks
# are throttled, under stock and mus, interleaved round by round in one boot. CI once
# saw the limits test's ten-second window of 32 hogs under 0.1 CPU take 19.4 s, and
# the hogs get only half their quota in it (crates/mus-runner/tests/vm.rs,
# cpu_max_holds_with_many_threads...). Each hog moves itself into the cgroup by writing
# cgroup.procs, which takes cgroup_threadgroup_rwsem for writing; a fork takes it for
# reading. A hog throttled after the move but before the write returns holds up every
# fork on the node. Run from the workspace root:
#   cargo build -p mus-runner
#   cargo xtask vm-run evaluation/experiments/limits_stall.sh --bin target/debug/mus-runner \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --cpus 4 --timeout 900
# Per round and scheduler it prints "@@MUS stall <scheduler> moved=<s until all 32 were
# in> forks=<the slowest of 40 forks, s> window=<a 5 s sleep measured, s> cpu=<the
# cgroup's CPU time in it / its quota> total=<the same from the cgroup's creation, the
# move-in included, to the window's end>", then "@@MUS dd_<scheduler> <measure_n line>"
# for DD (4) dd copying /dev/zero under 0.1 CPU: a hog that lives in system calls,
# which the scheduler must still hold to its limit. The shell stamps with builtins
# only, and a watcher that never forks dumps the blocked tasks (sysrq-w) when the
# shell's heartbeat is 2 s old. /exp.conf may set SCHEDS, ROUNDS, DD and DD_SECS (the
# dd window, s).
. /lib.sh
SCHEDS="stock mus-runner" ROUNDS=3 DD=4 DD_SECS=5
[ -f /exp.conf ] && . /exp.conf
echo 7 >/proc/sys/kernel/printk
mkfifo /tmp/tick

# The uptime in seconds into UP, and the heartbeat file, without a fork.
stamp() {
	read UP _ </proc/uptime
	echo "$UP" >/tmp/hb
}

# Stops the watcher until the next stamp (the runner's load, a sleep, a kill).
pause() {
	echo 999999 >/tmp/hb
}

# Never forks: every second it compares the heartbeat with the uptime.
watcher() {
	dumped="" last=""
	while :; do
		read -t 1 x <>/tmp/tick
		read now _ </proc/uptime
		read hb </tmp/hb
		# a stamp may be halfway through rewriting the file: a value counts once
		# it is read twice (one run reported a heartbeat 89 s old mid-round, which no
		# stamp had written: most likely such a half-written value)
		[ -n "$hb" ] && [ "$hb" = "$last" ] || { last=$hb; continue; }
		late=$(( ${now%.*} - ${hb%.*} ))
		if [ "$late" -ge 2 ] && [ "$dumped" != "$hb" ]; then
			echo "@@MUS heartbeat $late s old at $now: blocked tasks follow"
			echo w >/proc/sysrq-trigger
			dumped=$hb
		fi
	done
}

stamp
watcher &
WATCHER=$!
r=1
while [ $r -le $ROUNDS ]; do
	for s in $SCHEDS; do
		pause
		[ "$s" = stock ] || start_sched /tmp/sched.log $s
		cg=many$r$s
		mkcg $cg
		echo "10000 100000" >$CG/$cg/cpu.max
		stamp
		t0=$UP
		hogs $cg 32
		n=0
		while [ $n -lt 32 ]; do
			n=0
			while read l; do n=$((n + 1)); done <$CG/$cg/cgroup.procs
			stamp
		done
		moved=$(echo "$UP - $t0" | awk '{ print $1 - $3 }')
		worst=0
		i=0
		while [ $i -lt 40 ]; do
			stamp
			a=$UP
			/bin/true
			stamp
			worst=$(echo "$a $UP $worst" | awk '{ d = $2 - $1; print (d > $3 ? d : $3) }')
			i=$((i + 1))
		done
		stamp
		t1=$UP
		u1=$(usage $cg)
		pause
		sleep 5
		u2=$(usage $cg)
		stamp
		echo "$t0 $t1 $UP $u1 $u2" | awk -v s=$s -v m=$moved -v f=$worst \
			'{ w = $3 - $2; printf "@@MUS stall %s moved=%.2f forks=%.3f window=%.2f cpu=%.2f total=%.2f\n", s, m, f, w, ($5 - $4) / 1e6 / (0.1 * w), $5 / 1e6 / (0.1 * ($3 - $1)) }'
		pause
		kill_cgroups $cg
		# a hog that lives in system calls: $DD dd copying /dev/zero, under 0.1 CPU
		cg=dd$r$s
		mkcg $cg
		echo "10000 100000" >$CG/$cg/cpu.max
		for i in $(seq $DD); do
			sh -c "echo \$\$ > $CG/$cg/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=1M 2>/dev/null" &
		done
		sleep 2
		measure_n dd_$s $DD_SECS $cg
		kill_cgroups $cg
		[ "$s" = stock ] || stop_sched
	done
	r=$((r + 1))
done
kill $WATCHER
