# The two-socket guest (8 vCPUs, two L3 caches, two NUMA nodes): mus builds one queue
# per cache, cpu.weight shares hold across the two queues as on one, CPU-bound tasks
# stay in their cache while nothing is owed, tasks crammed into one cache spread to
# the other, and a stress-ng load runs without ejection. Eight TCG vCPUs share the
# host's two cores, so windows are short; the guest's timers already run late.
echo "@@MUS nproc $(nproc)"
echo "@@MUS l3_domains $(cat /sys/devices/system/cpu/cpu*/cache/index3/shared_cpu_list | sort -u | tr '\n' ' ')"
echo "@@MUS numa_nodes $(ls -d /sys/devices/system/node/node[0-9]* | wc -l)"
echo "@@MUS node0_cpus $(cat /sys/devices/system/node/node0/cpulist)"
echo "@@MUS node1_cpus $(cat /sys/devices/system/node/node1/cpulist)"

# Samples the CPU of every task of cgroup $2 (field 39 of /proc/PID/stat) every 0.2 s,
# $3 times, and reports "@@MUS $1 <samples> <cache changes> <steals> <cross-cache
# migrations> <idle steals>": how often a task was seen in another cache (CPUs 0-3 | 4-7) than at
# its previous sample, and the scheduler's counters over the same time. The loop forks
# nothing but sleep (read and eval are shell builtins), so that the measurement does
# not itself load some CPUs more than others.
cache_moves() {
	key=$1
	s0=$(counter $STAT_STEALS)
	m0=$(counter $STAT_LLC_MIGRATIONS)
	i0=$(counter $STAT_IDLE_STEALS)
	pids=$(cat $CG/$2/cgroup.procs)
	n=$3
	samples=0
	moves=0
	while [ $n -gt 0 ]; do
		for pid in $pids; do
			read -r stat </proc/$pid/stat
			set -- $stat
			eval "llc=\$((\${39} / 4)) last=\${last_$pid}"
			[ -n "$last" ] && [ "$last" != "$llc" ] && moves=$((moves + 1))
			eval "last_$pid=$llc"
			samples=$((samples + 1))
		done
		sleep 0.2
		n=$((n - 1))
	done
	echo "@@MUS $key $samples $moves $(($(counter $STAT_STEALS) - s0)) $(($(counter $STAT_LLC_MIGRATIONS) - m0)) $(($(counter $STAT_IDLE_STEALS) - i0))"
}

# The same loads as below under the stock scheduler, for comparison (its counters are 0).
mkcg balanced
hogs balanced 6
sleep 2
cache_moves stock_balanced balanced 30
kill_cgroups balanced
hogs balanced 8
sleep 2
cache_moves stock_full balanced 30
kill_cgroups balanced

# Shares across caches: cpu.weight 300 against 100, eight busy threads each (16 for
# 8 CPUs, so both caches are contended), first under the stock scheduler.
mkcg heavy 300
mkcg light 100
hogs heavy 8
hogs light 8
sleep 2
measure_n stock_shares 8 heavy light
kill_cgroups heavy light

# The kernel's own watchdog check-in runs seconds late on eight TCG vCPUs over two
# host cores (seen: "watchdog failed to check in for 5.1 s"): give it room.
start_runner /tmp/runner.log --stats 10 --watchdog-timeout-ms 20000
echo "@@MUS runner_caches $(grep -o 'one queue per last-level cache.*' /tmp/runner.log)"

hogs heavy 8
hogs light 8
sleep 2
measure_n mus_shares 8 heavy light
kill_cgroups heavy light

# Balanced: six hogs on eight CPUs, so that each cache has room for the other tasks
# that come and go. Nothing is owed across caches: the hogs stay put. Then one hog per
# CPU: each cache's other tasks (this loop, kworkers, the runner) now take time from
# its hogs, which fall behind the other cache's, and mus moves hogs between caches to
# even that out (the stock scheduler does not): reported, not judged.
hogs balanced 6
sleep 2
cache_moves balanced balanced 30
kill_cgroups balanced
hogs balanced 8
sleep 2
cache_moves full balanced 30
kill_cgroups balanced

# Imbalanced: eight hogs started on cache 0's CPUs only, then allowed everywhere. The
# idle CPUs of cache 1 must take half of them (steals), and the cgroup must then use
# the whole machine.
mkcg crammed
n=8
while [ $n -gt 0 ]; do
	sh -c "echo \$\$ > $CG/crammed/cgroup.procs && exec taskset -c 0-3 sh -c 'while :; do :; done'" &
	n=$((n - 1))
done
sleep 1
s0=$(($(counter $STAT_STEALS) + $(counter $STAT_IDLE_STEALS)))
for pid in $(cat $CG/crammed/cgroup.procs); do
	taskset -p ff "$pid" >/dev/null
done
sleep 2
echo "@@MUS crammed_steals $(($(counter $STAT_STEALS) + $(counter $STAT_IDLE_STEALS) - s0))"
measure_n crammed 4 crammed
kill_cgroups crammed

# The stress: half the CPUs' worth of boosted stress-ng workers with fork and yield
# churn, next to two plain hogs.
mkdir $CG/boosted $CG/normal
mus-agent boost --cgroup $CG/boosted
hog normal
hog normal
sh -c "echo \$\$ > $CG/boosted/cgroup.procs && exec stress-ng --cpu 4 --fork 1 --yield 1 --timeout 15s --quiet" &
STRESS=$!
measure window1 normal boosted 6
measure window2 normal boosted 6
wait $STRESS
echo "@@MUS stress_rc $?"
echo "@@MUS state_after $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
kill_cgroups normal
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
