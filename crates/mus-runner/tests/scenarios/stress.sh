# 30 s of stress-ng (CPU, fork, yield) in a boosted cgroup against one hog in a normal
# cgroup and a nice-19 hog in a third: the scheduler must not be ejected, and the hogs
# must keep progressing (the nice-19 one, at weight 1 where nice 0 is 100, only thanks to
# the starvation rescue).
start_runner /tmp/runner.log --stats 10
mkdir $CG/boosted $CG/normal $CG/niced
mus-agent boost --cgroup $CG/boosted
hog normal
hog niced
renice -n 19 -p $! >/dev/null
echo "@@MUS niced_nice $(cut -d' ' -f19 /proc/$!/stat)"
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
kill_cgroups normal niced
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
