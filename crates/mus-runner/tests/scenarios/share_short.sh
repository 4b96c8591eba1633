# The short share check, for kernels other than the one every test runs on: equal hogs
# split about evenly with an empty map, about 4:1 with one cgroup boosted.
start_runner /tmp/runner.log
mkdir $CG/a $CG/b
hog a; hog a; hog b; hog b
sleep 1
measure even a b 5
mus-agent boost --cgroup $CG/a --weight 4096
sleep 1
measure boosted a b 5
kill_cgroups a b
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
