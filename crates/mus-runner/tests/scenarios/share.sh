# CPU share of two sibling cgroups with equal hogs (two each, on two CPUs): even with
# an empty map, 4:1 with one boosted; then the same through a parent cgroup; then
# with the other cgroup's cpu.idle set.
start_runner /tmp/runner.log --stats 5
mkdir $CG/a $CG/b
hog a; hog a; hog b; hog b
sleep 1
measure even a b 5
mus-agent boost --cgroup $CG/a --weight 4096
sleep 1
measure boosted a b 5
mus-agent unboost --cgroup $CG/a

# A boost on a parent covers the tasks of its children.
mkdir -p $CG/p/c
for pid in $(cat $CG/a/cgroup.procs); do echo $pid >$CG/p/c/cgroup.procs; done
mus-agent boost --cgroup $CG/p --weight 4096
sleep 1
measure parent p/c b 5
mus-agent unboost --cgroup $CG/p

# cpu.idle=1 is honoured: the idle cgroup runs only on what the others leave
# (and the starvation rescue's short slices).
echo 1 >$CG/b/cpu.idle
sleep 1
measure idle p/c b 5
kill_cgroups p/c b
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
