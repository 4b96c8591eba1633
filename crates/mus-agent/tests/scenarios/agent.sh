# mus-agent end to end: real containerd + runc run a pod's container under a
# kubepods-style (cgroupfs driver) cgroup; busybox httpd on loopback plays the API
# server with Pod JSON made on the host; mus-agent boosts the pod in a running
# mus-runner. Prepended by tests/vm.rs (tests/vm_common): the guest library (lib.sh), NS,
# POD, POD_UID, CTR, C1, C2, NODE, IMAGE, then lib_k8s.sh.
t_boot=$(now_cs)

start_runner /tmp/runner.log
echo "@@MUS runner_state $(cat $SCX/state)"

start_containerd
kubelet_cgroups

# The pod's first container: two hogs, cgroup as kubelet's cgroupfs driver names it.
run_container run1 "$C1"
PID1=$PID
echo "@@MUS c1_cgroup $(cat /proc/$PID1/cgroup 2>&1)"
echo "@@MUS c1_procs $(wc -l <$CG/$POD_CG/$C1/cgroup.procs)"
echo "@@MUS t_container_cs $(($(now_cs) - t_boot))"


# The API server (lib_k8s.sh), serving the pod with its first container.
api_serve 1
start_api
echo "@@MUS api_pod $(wget -q -O - http://127.0.0.1:8080/cgi-bin/api/api/v1/namespaces/$NS/pods/$POD | head -c 40)"

sleep 1
measure before $POD_CG $NOISE 4

# 1. boost the pod: its pod-level cgroup goes into the map
report boost_pod agent boost $NS/$POD
echo "@@MUS pod_cgroup_id $(stat -c %i $CG/$POD_CG)"
dump dump_boosted
sleep 1
measure boosted $POD_CG $NOISE 4

# 3. status names the pod
report status agent status

# 4. the container restarts: new container ID, new cgroup, same pod cgroup; nobody
# tells the agent
ctr -n k8s.io task kill -s SIGKILL "$C1"
i=0
while [ -n "$(task_pid "$C1")" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ctr -n k8s.io task rm "$C1" >/dev/null 2>&1
ctr -n k8s.io container rm "$C1" >/dev/null 2>&1
echo "@@MUS c1_cgroup_after_kill $([ -d $CG/$POD_CG/$C1 ] && echo present || echo gone)"
run_container run2 "$C2"
PID2=$PID
echo "@@MUS c2_cgroup $(cat /proc/$PID2/cgroup 2>&1)"
# what the kubelet would now report
api_serve 2
dump dump_restarted
sleep 1
measure restarted $POD_CG $NOISE 4

# 5. unboost the pod: the entry goes, and the share falls back
report unboost_pod agent unboost $NS/$POD
dump dump_unboosted
sleep 1
measure unboosted $POD_CG $NOISE 4

# 6. one container, through containerd: container ID -> task PID -> /proc/PID/cgroup
report boost_ctr agent boost $NS/$POD/$CTR --weight 8192
echo "@@MUS c2_cgroup_id $(stat -c %i $CG/$POD_CG/$C2)"
dump dump_ctr

echo "@@MUS t_total_cs $(($(now_cs) - t_boot))"
# The scheduler stayed attached through all of it. Detaching is mus-runner's own test;
# the guest powers off with it attached.
echo "@@MUS runner_alive $(kill -0 $RUNNER 2>/dev/null && echo yes || echo no)"
echo "@@MUS final_state $(cat $SCX/state)"
tail -5 /tmp/runner.log
