# The demo: mus on a real sched_ext kernel, two cgroups with two CPU hogs each on two
# vCPUs; first with an empty map, then with "web" boosted through mus-agent.
echo "== loading mus (mus-runner) =="
start_runner /tmp/runner.log --stats 5
echo "sched_ext state: $(cat $SCX/state), scheduler: $(cat $SCX/root/ops)"
ls -l $PIN

echo "== two cgroups, web and batch, two CPU hogs each =="
mkdir $CG/web $CG/batch
hog web; hog web; hog batch; hog batch
sleep 1
measure empty_map web batch 5

echo "== mus-agent boost --cgroup $CG/web (weight 4096 against 1024) =="
mus-agent boost --cgroup $CG/web
echo "== bpftool map dump pinned $PIN =="
bpftool map dump pinned $PIN
sleep 1
measure boosted web batch 5

echo "== mus-agent status =="
mus-agent status
echo "== stopping the hogs, then mus-runner (SIGTERM) =="
kill_cgroups web batch
kill -TERM $RUNNER
wait $RUNNER
echo "mus-runner exited with status $?; sched_ext state: $(cat $SCX/state)"
cat /tmp/runner.log
