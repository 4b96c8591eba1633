# `mus-agent plan` against what mus then does (tests/vm_plan.rs): a kubelet-shaped
# tree (systemd driver) next to a busy system.slice, its pods' hogs running under mus;
# plan a 4096 boost of burstable pod 1, measure every busy cgroup's CPU time, boost
# that pod through the map, measure again, plan again (the map's boost read), then
# limit the Guaranteed pod with cpu.max, plan and measure once more. The host
# compares each plan with the measurements.
#
# cpu.weight as kubelet computes it on a node of 2 allocatable CPUs (see
# crates/mus-runner/tests/scenarios/fairness.sh for the arithmetic): kubepods.slice
# 79, the Guaranteed pod (1 CPU) 39, the burstable slice (250m + 250m) 20, the
# burstable pods (250m) 10, the besteffort slice and pod 1.
K=kubepods.slice
KB=$K/kubepods-burstable.slice
KE=$K/kubepods-besteffort.slice
GP=$K/kubepods-pod0001.slice
BP1=$KB/kubepods-burstable-pod0002.slice
BP2=$KB/kubepods-burstable-pod0003.slice
EP=$KE/kubepods-besteffort-pod0004.slice
BUSY="system.slice $GP $BP1 $BP2 $EP"

# plan_json KEY ARGS...: `mus-agent plan ARGS --json` as "@@MUS KEY <one line>" and
# its status as KEY_rc
plan_json() {
	key=$1
	shift
	mus-agent plan "$@" --json >/tmp/plan.json 2>/tmp/plan.err
	echo "@@MUS ${key}_rc $? $(tr '\n' ' ' </tmp/plan.err)"
	echo "@@MUS $key $(tr -d '\n' </tmp/plan.json)"
}

start_runner /tmp/runner.log
echo "@@MUS runner_state $(cat $SCX/state)"
mkcg system.slice/busy.service; mkcg $K 79; mkcg $KB 20; mkcg $KE 1
mkcg $GP/cri-containerd-g.scope; echo 39 >$CG/$GP/cpu.weight
mkcg $BP1/cri-containerd-b1.scope; echo 10 >$CG/$BP1/cpu.weight
mkcg $BP2/cri-containerd-b2.scope; echo 10 >$CG/$BP2/cpu.weight
mkcg $EP/cri-containerd-e.scope; echo 1 >$CG/$EP/cpu.weight
hogs system.slice/busy.service 1
hogs $GP/cri-containerd-g.scope 2
hogs $BP1/cri-containerd-b1.scope 1
hogs $BP2/cri-containerd-b2.scope 4
hogs $EP/cri-containerd-e.scope 4
sleep 2

# the plan before anything is boosted, and its table
plan_json plan --cgroup $BP1 --weight 4096
mus-agent plan --cgroup $BP1 --weight 4096 2>&1 | sed 's/^/@@MUS table /'
measure_n before 5 $BUSY

mus-agent boost --cgroup $CG/$BP1 --weight 4096 >/tmp/boost.out 2>&1
echo "@@MUS boost_rc $? $(cat /tmp/boost.out)"
sleep 2
measure_n after 5 $BUSY
# with the boost in the map: setting the pod back to an ordinary weight (1024)
plan_json replan --cgroup $BP1 --weight 1024

# the Guaranteed pod limited to a quarter of a CPU, less than its weight gives it
echo "25000 100000" >$CG/$GP/cpu.max
sleep 2
plan_json limited_plan --cgroup $BP1 --weight 1024
measure_n limited 5 $BUSY

echo "@@MUS final_state $(cat $SCX/state)"
kill_cgroups system.slice/busy.service $GP/cri-containerd-g.scope \
	$BP1/cri-containerd-b1.scope $BP2/cri-containerd-b2.scope $EP/cri-containerd-e.scope
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
