# 30 s of stress-ng (CPU, fork, yield) in a boosted cgroup against one hog in a normal
# cgroup: the scheduler must not be ejected, and the hog must keep progressing.
start_runner /tmp/runner.log --stats 10
mkdir $CG/boosted $CG/normal
mus-agent boost --cgroup $CG/boosted
hog normal
sh -c "echo \$\$ > $CG/boosted/cgroup.procs && exec stress-ng --cpu 2 --fork 2 --yield 2 --timeout 30s --quiet" &
STRESS=$!
for window in 1 2 3; do
	measure window$window normal boosted 10
done
wait $STRESS
echo "@@MUS stress_rc $?"
echo "@@MUS state_after $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
