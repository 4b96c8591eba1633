# 30 s of stress-ng (CPU, fork, yield) in a boosted cgroup against one hog in a normal
# cgroup and a nice-19 hog in a third: the scheduler must not be ejected, and the hogs
# must keep progressing (the nice-19 one, weight 1 of 10000 per task, only thanks to
# the starvation rescue).
start_runner /tmp/runner.log --stats 10
mkdir $CG/boosted $CG/normal $CG/niced
mus-agent boost --cgroup $CG/boosted
hog normal
nice -n 19 sh -c "echo \$\$ > $CG/niced/cgroup.procs && while :; do :; done" &
sh -c "echo \$\$ > $CG/boosted/cgroup.procs && exec stress-ng --cpu 2 --fork 2 --yield 2 --timeout 30s --quiet" &
STRESS=$!
for window in 1 2 3; do
	measure window$window normal boosted 10
done
wait $STRESS
echo "@@MUS niced_usec $(usage niced)"
echo "@@MUS stress_rc $?"
echo "@@MUS state_after $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
