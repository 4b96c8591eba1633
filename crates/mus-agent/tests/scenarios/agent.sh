# mus-agent end to end: real containerd + runc run a pod's container under a
# kubepods-style (cgroupfs driver) cgroup; busybox httpd on loopback plays the API
# server with Pod JSON made on the host; mus-agent boosts the pod in a running
# mus-runner. Prepended by tests/vm.rs: lib.sh, then NS, POD, POD_UID, CTR, C1, C2,
# NODE, IMAGE.
KC=/opt/kubeconfig
POD_CG=kubepods/besteffort/pod$POD_UID
# Two hog processes: a backgrounded loop and the shell's own loop.
HOG2='while :; do :; done & while :; do :; done'
agent() { mus-agent --kubeconfig $KC --node $NODE "$@"; }
# "@@MUS $1 <output of the rest, on one line>", and "@@MUS $1_rc <status>".
report() {
	key=$1
	shift
	"$@" >/tmp/out 2>&1
	rc=$?
	echo "@@MUS ${key}_rc $rc"
	echo "@@MUS $key $(tr '\n' ' ' </tmp/out)"
}
dump() { echo "@@MUS $1 $(bpftool -j map dump pinned $PIN 2>&1 | tr -d '\n ')"; }
task_pid() { ctr -n k8s.io task ls 2>/dev/null | awk -v id="$1" '$1 == id && $3 == "RUNNING" { print $2 }'; }
# Waits up to 20 s for container $1's task to run; prints its PID.
wait_task() {
	i=0
	while [ $i -lt 200 ]; do
		p=$(task_pid "$1")
		[ -n "$p" ] && { echo "$p"; return 0; }
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
t_boot=$(now_cs)

start_runner /tmp/runner.log
echo "@@MUS runner_state $(cat $SCX/state)"

# containerd, with the CRI plugin off (no kubelet here) and the native snapshotter.
mkdir -p /var/lib/containerd /run/containerd
containerd --config /etc/containerd/config.toml >/tmp/containerd.log 2>&1 &
i=0
while [ ! -S /run/containerd/containerd.sock ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
ctr version >/dev/null 2>&1 && echo "@@MUS containerd up" || { echo "@@MUS containerd down"; tail -20 /tmp/containerd.log; }
report import ctr -n k8s.io image import --snapshotter native /opt/image.tar

# The pod's first container: two hogs, cgroup as kubelet's cgroupfs driver names it.
report run1 ctr -n k8s.io run --snapshotter native --cgroup "/$POD_CG/$C1" -d "$IMAGE" "$C1" sh -c "$HOG2"
PID1=$(wait_task "$C1")
echo "@@MUS c1_cgroup $(cat /proc/$PID1/cgroup 2>&1)"
echo "@@MUS c1_procs $(wc -l <$CG/$POD_CG/$C1/cgroup.procs)"
echo "@@MUS t_container_cs $(($(now_cs) - t_boot))"

# The noisy sibling: two hogs outside the pod.
mkdir $CG/noise
hog noise
hog noise

# The API server: static files at the paths the kube client GETs (the query string,
# e.g. ?fieldSelector=spec.nodeName=..., is ignored by httpd).
WWW=/tmp/www
mkdir -p $WWW/api/v1/namespaces/$NS/pods
cp /opt/api/pod1.json $WWW/api/v1/namespaces/$NS/pods/$POD
cp /opt/api/list1.json $WWW/api/v1/pods
httpd -f -p 127.0.0.1:8080 -h $WWW &
sleep 0.5
echo "@@MUS api_pod $(wget -q -O - http://127.0.0.1:8080/api/v1/namespaces/$NS/pods/$POD | head -c 40)"

sleep 1
measure before $POD_CG noise 4

# 1. boost the pod: its pod-level cgroup goes into the map
report boost_pod agent boost $NS/$POD
echo "@@MUS pod_cgroup_id $(stat -c %i $CG/$POD_CG)"
dump dump_boosted
sleep 1
measure boosted $POD_CG noise 4

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
report run2 ctr -n k8s.io run --snapshotter native --cgroup "/$POD_CG/$C2" -d "$IMAGE" "$C2" sh -c "$HOG2"
PID2=$(wait_task "$C2")
echo "@@MUS c2_cgroup $(cat /proc/$PID2/cgroup 2>&1)"
# what the kubelet would now report
cp /opt/api/pod2.json $WWW/api/v1/namespaces/$NS/pods/$POD
cp /opt/api/list2.json $WWW/api/v1/pods
dump dump_restarted
sleep 1
measure restarted $POD_CG noise 4

# 5. unboost the pod: the entry goes, and the share falls back
report unboost_pod agent unboost $NS/$POD
dump dump_unboosted
sleep 1
measure unboosted $POD_CG noise 4

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
