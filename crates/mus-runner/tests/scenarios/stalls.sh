# The stall paths a review found, on 4 vCPUs, with the shortest watchdog timeout the
# runner accepts (1 s; the rescue acts at a quarter of it):
# 1. 24 busy tasks in a cpu.idle cgroup (cpu.weight 1 where the kernel has no
#    cpu.idle for schedulers) next to 4 busy tasks (ejected within 20 s when the rescue
#    waited a fixed 2 s);
# 2. the same crowd requeued every 100 ms (renice flips its nice between 0 and 1): a
#    requeue to change a task must not restart the waits the rescue counts, as it does
#    not restart the watchdog's, nor the budgeted rescue's: "@@MUS reniced_rescues
#    <rescues> <late ones>" (late: by the hard bound, at 3/8 of the timeout; a
#    quarter of them while a requeue restarted the budgeted pass's count);
# 3. one cgroup whose 3 busy threads may run on CPUs 2-3 only and 2 on CPUs 0-1 only,
#    with processes coming and going in it: a CPU that gives way to a queue head it
#    may not run must still run something.
start_runner /tmp/runner.log --watchdog-timeout-ms 1000
mkcg idle
# and the least cpu.weight (written first: the kernel refuses a weight for an idle
# cgroup): kernels before 6.19 do not tell a scheduler about cpu.idle, and there the
# weight starves the crowd as cpu.idle does on 7.3
echo 1 >$CG/idle/cpu.weight
echo 1 >$CG/idle/cpu.idle
mkcg busy
hogs idle 24
hogs busy 4
sleep 1
measure_n idle_next_to_busy 20 idle busy
echo "@@MUS state_idle $(cat $SCX/state)"
CROWD=$(cat $CG/idle/cgroup.procs)
nice=0
i=0
r0=$(counter $STAT_STARVATION_RESCUES)
l0=$(counter $STAT_LATE_RESCUES)
while [ $i -lt 100 ]; do
	nice=$((1 - nice))
	renice -n $nice -p $CROWD >/dev/null
	sleep 0.1
	i=$((i + 1))
done
echo "@@MUS state_reniced $(cat $SCX/state)"
echo "@@MUS reniced_rescues $(( $(counter $STAT_STARVATION_RESCUES) - r0 )) $(( $(counter $STAT_LATE_RESCUES) - l0 ))"
kill_cgroups idle busy
mkcg pinned
# (its output goes nowhere: it is started inside $(...), which would wait for it)
pinned_hog() {
	sh -c "echo \$\$ > $CG/pinned/cgroup.procs && exec taskset -c $1 sh -c 'while :; do :; done'" >/dev/null &
	echo $!
}
HIGH="$(pinned_hog 2-3) $(pinned_hog 2-3) $(pinned_hog 2-3)"
LOW="$(pinned_hog 0-1) $(pinned_hog 0-1)"
sh -c "echo \$\$ > $CG/pinned/cgroup.procs && exec stress-ng --fork 1 --timeout 15s --quiet" &
CHURN=$!
sleep 1
# CPU ticks (utime + stime, in USER_HZ: 100 a second) of each group's threads over 10 s
ticks() {
	t=0
	for p in "$@"; do
		t=$((t + $(cut -d' ' -f14 /proc/$p/stat) + $(cut -d' ' -f15 /proc/$p/stat)))
	done
	echo $t
}
h0=$(ticks $HIGH)
l0=$(ticks $LOW)
sleep 10
echo "@@MUS pinned_ticks $(( $(ticks $HIGH) - h0 )) $(( $(ticks $LOW) - l0 )) 100"
wait $CHURN
echo "@@MUS churn_rc $?"
echo "@@MUS state_after $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
kill_cgroups pinned
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
