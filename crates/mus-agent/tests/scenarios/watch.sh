# mus-agent watch end to end: real containerd + runc run a pod's container under a
# kubepods-style cgroup; busybox httpd on loopback plays the API server (list and
# watch, lib_k8s.sh); `mus-agent watch`, under the boost policy /opt/policy.yaml,
# refuses an annotation over the policy's maxWeight, then keeps the map equal to
# the pod's annotation through annotate, two kinds of mus-runner restart, and
# un-annotate; then boosts the pod for a few seconds through a CPUBoost object; its
# metrics are scraped. Prepended by tests/vm_watch.rs
# (tests/vm_common): the guest library (lib.sh), NS, POD, POD_UID, CTR, NODE, IMAGE, C1,
# WITHIN and BOOST_S (seconds), then lib_k8s.sh.
t_boot=$(now_cs)

start_runner /tmp/runner1.log
echo "@@MUS runner_state $(cat $SCX/state)"
start_containerd
kubelet_cgroups
run_container run1 "$C1"
echo "@@MUS c1_cgroup $(cat /proc/$PID/cgroup 2>&1)"
echo "@@MUS c1_procs $(wc -l <$CG/$POD_CG/$C1/cgroup.procs)"
POD_ID=$(stat -c %i $CG/$POD_CG)
echo "@@MUS pod_cgroup_id $POD_ID"
echo "@@MUS t_setup_cs $(($(now_cs) - t_boot))"

# The API server serves the pod without the annotation; the daemon starts.
api_serve 1
start_api
# --no-fallback: this scenario follows the map through runner restarts (a SIGKILLed
# runner's map carries the boost over); with the fallback, the daemon would take its
# entry out while mus is away (tests/vm_fallback.rs covers that path).
mus-agent --kubeconfig $KC --node $NODE watch --policy /opt/policy.yaml --metrics-addr 127.0.0.1:9477 --resync-interval 2 --no-fallback >/tmp/watch.log 2>&1 &
WATCH=$!
wait_ready
# 1. No annotation: a few resyncs and watch rounds later the map is still empty.
sleep 5
dump dump_plain

# 2. Annotated over the policy's maxWeight: refused. The refusal is counted in the
# metrics and posted as an Event, and the map stays empty (the daemon resyncs every
# 2 s; 6 s is three passes).
api_serve 2
i=0
while ! { wget -q -O /tmp/metrics $METRICS/metrics && grep -q '^mus_agent_boosts_refused{reason="over_max_weight"} 1' /tmp/metrics; } && [ $i -lt $((WITHIN * 5)) ]; do
	sleep 0.2
	i=$((i + 1))
done
sleep 6
dump dump_refused
scrape metrics_refused
echo "@@MUS refused_events $(grep -c '^POST .*/apis/events.k8s.io/v1/namespaces/'$NS'/events' $API/requests)"

# 3. Annotate within the policy (what `kubectl annotate` makes the API server send):
# the pod's cgroup goes into the map at the annotation's weight, and the pod gets its
# share.
api_serve 3
wait_weight present $POD_ID t_annotate_cs
dump dump_annotated
sleep 1
measure annotated $POD_CG $NOISE 4

# 4. mus-runner killed (SIGKILL): the pin and its map stay; the next runner reuses it.
freeze 1
kill -KILL $RUNNER
wait $RUNNER 2>/dev/null
wait_state disabled
start_runner /tmp/runner2.log
echo "@@MUS runner2_state $(cat $SCX/state)"
freeze 0
dump dump_after_kill

# 5. mus-runner stopped (SIGTERM): it unpins, the map is gone; the next runner pins a
# new, empty map, and the daemon notices the new pin and writes the boost again.
freeze 1
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner2_term_rc $?"
echo "@@MUS pin_after_term $([ -e $PIN ] && echo present || echo absent)"
sleep 2
start_runner /tmp/runner3.log
echo "@@MUS runner3_state $(cat $SCX/state)"
freeze 0
wait_weight present $POD_ID t_reapply_cs
dump dump_reapplied
sleep 1
measure reapplied $POD_CG $NOISE 4

# 6. The metrics and the health check.
scrape metrics
echo "@@MUS healthz_rc $(wget -q -O /tmp/health $METRICS/healthz 2>/dev/null; echo $?)"
echo "@@MUS healthz $(cat /tmp/health)"
echo "@@MUS pod_usage_usec $(usage $POD_CG)"

# 7. The annotation removed: the entry goes.
api_serve 4
wait_weight absent $POD_ID t_unannotate_cs
dump dump_unannotated
scrape metrics_after

# 8. A CPUBoost object naming the pod, created now, for BOOST_S seconds: the pod's
# cgroup goes in at the object's weight, and leaves at the object's end with no
# change from the API server (the daemon wakes at the end by itself).
t_created=$(now_cs)
api_boost
wait_weight present $POD_ID t_boost_cs
dump dump_boosted
wait_weight absent $POD_ID t_boost_gone_cs
echo "@@MUS t_boost_end_cs $(($(now_cs) - t_created))"
dump dump_boost_ended
scrape metrics_boost

# What the daemon asked the API server: lists and watches of this node's pods, and of
# this Node only.
echo "@@MUS api_requests $(grep -c '/api/v1/pods?' $API/requests) $(grep -c '/api/v1/pods?.*watch=true' $API/requests)"
echo "@@MUS api_first_list $(grep '/api/v1/pods?' $API/requests | grep -v 'watch=true' | head -1)"
echo "@@MUS api_first_watch $(grep -m1 '/api/v1/pods?.*watch=true' $API/requests)"
echo "@@MUS api_first_node_list $(grep -m1 '/api/v1/nodes?' $API/requests)"
echo "@@MUS t_total_cs $(($(now_cs) - t_boot))"
echo "@@MUS watch_alive $(kill -0 $WATCH 2>/dev/null && echo yes || echo no)"
echo "@@MUS runner_alive $(kill -0 $RUNNER 2>/dev/null && echo yes || echo no)"
echo "@@MUS final_state $(cat $SCX/state)"
echo "--- watch log"
tail -40 /tmp/watch.log
