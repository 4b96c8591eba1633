# An auto CPUBoost end to end: real containerd + runc run the pod's container (two
# hogs) under a kubepods-style cgroup, mus attached, the runner pinning its wait
# histograms; busybox httpd plays the API server (lib_k8s.sh) and serves an auto
# CPUBoost of the pod (a PSI target, short cool-down). Quiet: no entry. CPU noise
# starts in a sibling pod's cgroup: the pod's weight rises in the map to maxWeight.
# The noise stops: after the cool-down the weight steps down and the entry goes.
# Prepended by tests/vm_watch.rs (tests/vm_common): the guest library (lib.sh), NS,
# POD, POD_UID, CTR, NODE, IMAGE, C1, WITHIN and MAX (the boost's maxWeight), then
# lib_k8s.sh.
WAITS_PIN=${PIN%/*}/mus_cgroup_waits

start_runner /tmp/runner1.log
echo "@@MUS runner_state $(cat $SCX/state)"
echo "@@MUS waits_pin $([ -e $WAITS_PIN ] && echo present || echo absent)"
start_containerd
mkcg "$POD_CG"
echo +cpu >"$CG/$POD_CG/cgroup.subtree_control"
mkdir -p $CG/$NOISE
run_container run1 "$C1"
echo "@@MUS c1_cgroup $(cat /proc/$PID/cgroup 2>&1)"
echo "@@MUS c1_procs $(wc -l <$CG/$POD_CG/$C1/cgroup.procs)"
POD_ID=$(stat -c %i $CG/$POD_CG)
echo "@@MUS pod_cgroup_id $POD_ID"

api_serve 1
start_api
MUS_LOG=info,mus_agent::daemon::auto_loop=debug \
	mus-agent --kubeconfig $KC --node $NODE watch --policy /opt/policy.yaml \
	--metrics-addr 127.0.0.1:9477 --resync-interval 2 --auto-interval 1 >/tmp/watch.log 2>&1 &
WATCH=$!
wait_ready

# 1. The auto boost, the pod alone: it meets the target, no entry is held.
api_boost
sleep 8
dump dump_quiet
echo "@@MUS psi_quiet $(head -1 $CG/$POD_CG/cpu.pressure)"

# 2. Noise in the sibling pod: the weight rises to maxWeight.
hogs $NOISE 2
wait_weight $MAX $POD_ID t_raise_cs
dump dump_noise
measure noisy $POD_CG $NOISE 4
echo "@@MUS psi_noise $(head -1 $CG/$POD_CG/cpu.pressure)"

# 3. The noise stops: after the cool-down the weight steps down, and the entry goes.
kill $HOG_PIDS
wait_weight absent $POD_ID t_fall_cs
dump dump_after
echo "@@MUS psi_after $(head -1 $CG/$POD_CG/cpu.pressure)"
wget -q -O /tmp/metrics $METRICS/metrics
echo "@@MUS metrics_auto $(grep '^mus_agent_cpuboost_auto' /tmp/metrics | tr '\n' '|')"
echo "@@MUS auto_events $(grep -c '^POST .*/apis/events.k8s.io/v1/namespaces/'$NS'/events' $API/requests)"
echo "@@MUS watch_alive $(kill -0 $WATCH 2>/dev/null && echo yes || echo no)"
echo "@@MUS final_state $(cat $SCX/state)"
echo "--- watch log"
grep -E 'auto|cpuboost' /tmp/watch.log | tail -60
