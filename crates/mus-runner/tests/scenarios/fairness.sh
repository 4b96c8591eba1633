# The node's cgroup contract, under the stock scheduler and then under mus, in one
# boot: flat and nested cpu.weight, a kubelet-shaped tree (systemd driver), a boost
# against a neighbour with more threads, and cpu.max. tests/vm.rs compares the two.
#
# kubelet's cpu.weight for a pod (and its QoS slice) comes from its CPU request:
# shares = max(2, milliCPU x 1024 / 1000), then runc's long-standing cgroup v2
# conversion weight = 1 + (shares - 2) x 9999 / 262142 (kubelet pkg/kubelet/cm
# MilliCPUToShares; runc libcontainer/cgroups ConvertCPUSharesToCgroupV2Value):
#   kubepods.slice        node allocatable 2 CPUs: 2048 shares -> 79
#   guaranteed pod        request 1 CPU:  1024 -> 39 (directly under kubepods.slice)
#   burstable slice       sum of burstable requests 250m + 250m: 512 -> 20
#   burstable pods        request 250m:   256 -> 10 each
#   besteffort slice/pod  2 shares -> 1
#   system.slice          systemd's default, 100
K=kubepods.slice
KB=$K/kubepods-burstable.slice
KE=$K/kubepods-besteffort.slice
GP=$K/kubepods-pod0001.slice/cri-containerd-g.scope
BP1=$KB/kubepods-burstable-pod0002.slice/cri-containerd-b1.scope
BP2=$KB/kubepods-burstable-pod0003.slice/cri-containerd-b2.scope
EP=$KE/kubepods-besteffort-pod0004.slice/cri-containerd-e.scope

# Each phase starts its hogs, waits a second, measures for 4 s and kills them.
phases() {
	s=$1
	mkcg flat/w300 300; mkcg flat/w100 100
	hogs flat/w300 2; hogs flat/w100 2
	sleep 1; measure_n ${s}_flat 4 flat/w300 flat/w100
	kill_cgroups flat/w300 flat/w100

	# nested: a parent pair at 200:100, children with 1 and 3 threads under the first
	mkcg nest/p200/c1; mkcg nest/p200/c3; mkcg nest/p100/c2
	echo 200 >$CG/nest/p200/cpu.weight; echo 100 >$CG/nest/p100/cpu.weight
	hogs nest/p200/c1 1; hogs nest/p200/c3 3; hogs nest/p100/c2 2
	sleep 1; measure_n ${s}_nested 4 nest/p200 nest/p100 nest/p200/c1 nest/p200/c3
	kill_cgroups nest/p200/c1 nest/p200/c3 nest/p100/c2

	# kubelet's tree next to system.slice
	mkcg system.slice/busy.service; mkcg $K 79; mkcg $KB 20; mkcg $KE 1
	mkcg $GP; echo 39 >$CG/$K/kubepods-pod0001.slice/cpu.weight
	mkcg $BP1; echo 10 >$CG/$KB/kubepods-burstable-pod0002.slice/cpu.weight
	mkcg $BP2; echo 10 >$CG/$KB/kubepods-burstable-pod0003.slice/cpu.weight
	mkcg $EP; echo 1 >$CG/$KE/kubepods-besteffort-pod0004.slice/cpu.weight
	hogs system.slice/busy.service 1; hogs $GP 2; hogs $BP1 1; hogs $BP2 4; hogs $EP 4
	sleep 1; measure_n ${s}_kubelet 4 system.slice $K $GP $BP1 $BP2 $EP
	# burstable pod 1 boosted 4x: by cpu.weight under stock, by the map under mus
	boost_pod $KB/kubepods-burstable-pod0002.slice
	sleep 1; measure_n ${s}_kubelet_boost 4 system.slice $K $GP $BP1 $BP2 $EP
	# three pods boosted at once (one of each class), and a second thread in
	# system.slice so that it could use more than its share: it keeps 100/179.
	# Three seconds after the change before measuring, as the three-boost
	# figures in tests/vm.rs were taken.
	hogs system.slice/busy.service 1
	boost_pod $K/kubepods-pod0001.slice
	boost_pod $KE/kubepods-besteffort-pod0004.slice
	sleep 3; measure_n ${s}_kubelet_boost3 4 system.slice $K $GP $BP1 $BP2 $EP
	unboost_pod $K/kubepods-pod0001.slice
	unboost_pod $KE/kubepods-besteffort-pod0004.slice
	unboost_pod $KB/kubepods-burstable-pod0002.slice
	kill_cgroups system.slice/busy.service $GP $BP1 $BP2 $EP

	# one busy thread against eight, then the one boosted 4x
	mkcg thr/one; mkcg thr/eight
	hogs thr/one 1; hogs thr/eight 8
	sleep 1; measure_n ${s}_threads 4 thr/one thr/eight
	boost_pod thr/one
	sleep 1; measure_n ${s}_threads_boost 4 thr/one thr/eight
	unboost_pod thr/one
	kill_cgroups thr/one thr/eight

	# a boost taken back: one thread (weight 100) boosted against eight (200) is
	# owed more than the one CPU it can use; unboosted, it must get its 1/3 at once,
	# not spend what it was owed and could not use
	mkcg unb/one 100; mkcg unb/eight 200
	hogs unb/one 1; hogs unb/eight 8
	boost_pod unb/one
	sleep 5; unboost_pod unb/one
	measure_n ${s}_unboost 3 unb/one unb/eight
	kill_cgroups unb/one unb/eight

	# cpu.max of half a CPU on two busy threads, alone on the node
	mkcg lim; echo "50000 100000" >$CG/lim/cpu.max
	hogs lim 2
	sleep 1; measure_n ${s}_limit 4 lim
	kill_cgroups lim
	echo max >$CG/lim/cpu.max
}

# stock: the kernel's own 4x is cpu.weight 400 against 100
boost_pod() { echo $(( $(cat $CG/$1/cpu.weight) * 4 )) >$CG/$1/cpu.weight; }
unboost_pod() { echo $(( $(cat $CG/$1/cpu.weight) / 4 )) >$CG/$1/cpu.weight; }
phases stock

start_runner /tmp/runner.log
boost_pod() { mus-agent boost --cgroup $CG/$1 --weight 4096 >/dev/null; }
unboost_pod() { mus-agent unboost --cgroup $CG/$1 >/dev/null; }
phases mus
echo "@@MUS state_after $(cat $SCX/state)"
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
