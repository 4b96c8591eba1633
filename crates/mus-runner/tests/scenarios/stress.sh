# A minute of stress-ng (CPU, fork, yield) in a boosted cgroup against one hog and one
# hog pinned to CPU 0 in a normal cgroup, a nice-19 hog in a third, and 40 hogs in a
# cgroup with cpu.idle set: the scheduler must not be ejected (no task may wait 5 s),
# and every cgroup must keep progressing (the nice-19 and the idle ones only thanks to
# the cap on how far behind a task is placed). $RUNNER_ARGS: more flags for the runner.
start_runner /tmp/runner.log --stats 10 $RUNNER_ARGS
mkdir $CG/boosted $CG/normal $CG/niced $CG/idle
echo 1 >$CG/idle/cpu.idle
mus-agent boost --cgroup $CG/boosted
hog normal
sh -c "echo \$\$ > $CG/normal/cgroup.procs && exec taskset -c 0 sh -c 'while :; do :; done'" &
hog niced
renice -n 19 -p $! >/dev/null
echo "@@MUS niced_nice $(cut -d' ' -f19 /proc/$!/stat)"
i=0
while [ $i -lt 40 ]; do
	hog idle
	i=$((i + 1))
done
sh -c "echo \$\$ > $CG/boosted/cgroup.procs && exec stress-ng --cpu 2 --fork 2 --yield 2 --timeout 60s --quiet" &
STRESS=$!
idle0=$(usage idle)
for window in 1 2 3; do
	measure window$window normal boosted 20
done
wait $STRESS
echo "@@MUS stress_rc $?"
echo "@@MUS niced_usec $(usage niced)"
echo "@@MUS idle_usec $(( $(usage idle) - idle0 ))"
echo "@@MUS state_after $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
kill_cgroups normal niced idle
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
