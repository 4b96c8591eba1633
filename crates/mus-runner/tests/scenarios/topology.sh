# The two-socket guest: the kernel sees two L3 caches and two NUMA nodes, and mus runs
# a short stress-ng load (half the CPUs' worth of hogs, with fork and yield churn, and
# two plain hogs) without being ejected. Eight TCG vCPUs share the host's two cores, so
# the load is kept light: the guest's timers already run late.
echo "@@MUS nproc $(nproc)"
echo "@@MUS l3_domains $(cat /sys/devices/system/cpu/cpu*/cache/index3/shared_cpu_list | sort -u | tr '\n' ' ')"
echo "@@MUS numa_nodes $(ls -d /sys/devices/system/node/node[0-9]* | wc -l)"
echo "@@MUS node0_cpus $(cat /sys/devices/system/node/node0/cpulist)"
echo "@@MUS node1_cpus $(cat /sys/devices/system/node/node1/cpulist)"
# The kernel's own watchdog check-in runs seconds late on eight TCG vCPUs over two
# host cores (seen: "watchdog failed to check in for 5.1 s"): give it room.
start_runner /tmp/runner.log --stats 10 --watchdog-timeout-ms 20000
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
