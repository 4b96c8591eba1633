# Every churn the stall paths care about, at once, for SECS seconds under the shortest
# watchdog timeout the runner accepts (1 s): mus must stay attached. The guest
# tests run each stall path alone for 10-60 s (tests/scenarios/stalls.sh, stress.sh,
# limits.sh); a node gets them together, for hours. At once, on 4 vCPUs:
# - a cpu.idle crowd (24 hogs), its cpu.idle flipped every 2 s and its nice every 100 ms;
# - 4 busy hogs whose cpu.weight cycles 10 / 100 / 1000 and whose boost goes on and off
#   every second (mus-agent, through the pin);
# - a limited cgroup (16 hogs and 4 dd, which live in system calls) whose cpu.max
#   cycles every 0.5 s through 0.1, 0.5, no limit, 0.25 on a 20 ms period, 2 CPUs;
# - a limited pod (1 CPU) over two containers, one limited (0.3 CPU), 4 hogs each,
#   one hog moved between them every 0.3 s;
# - 3 hogs whose affinity changes every 0.2 s (one CPU, two, all);
# - stress-ng forking and yielding;
# - an empty cgroup made and removed every 0.2 s, a short process moved through it.
# Every 10 s it prints "@@MUS soak <s> <sched_ext state>"; at the end "@@MUS
# soak_usage <cgroup> <CPU microseconds>" for each, then the usual state_after,
# runner_alive and runner_rc. SECS defaults to 60 (the guest test); for a longer soak:
#   (echo '. /lib.sh'; echo SECS=300; cat crates/mus-runner/tests/scenarios/chaos.sh) >/tmp/chaos.sh
#   cargo xtask vm-run /tmp/chaos.sh --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --tool stress-ng --tool renice --tool taskset --file crates/mus-testbed/guest/lib.sh:/lib.sh \
#     --cpus 4 --timeout 1200   # (--kernel lts612 for 6.12)
SECS=${SECS:-60}
start_runner /tmp/runner.log --watchdog-timeout-ms 1000 --stats 30
mkcg chaos/idle
mkcg chaos/busy
mkcg chaos/lim
mkcg chaos/pod/c1
mkcg chaos/pod/c2
mkcg chaos/aff
mkcg chaos/forks
echo 1 >$CG/chaos/idle/cpu.idle
echo "100000 100000" >$CG/chaos/pod/cpu.max
echo "30000 100000" >$CG/chaos/pod/c1/cpu.max
hogs chaos/idle 24
hogs chaos/busy 4
hogs chaos/lim 16
for i in 1 2 3 4; do
	sh -c "echo \$\$ > $CG/chaos/lim/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=1M 2>/dev/null" &
done
hogs chaos/pod/c1 4
hogs chaos/pod/c2 4
hogs chaos/aff 3
sh -c "echo \$\$ > $CG/chaos/forks/cgroup.procs && exec stress-ng --fork 2 --yield 1 --quiet" &
sleep 1
END=$(( $(now_cs) + SECS * 100 ))
# Runs "$@" every $1 seconds (shifted off) until the soak ends.
every() {
	period=$1
	shift
	while [ "$(now_cs)" -lt $END ]; do
		"$@" >/dev/null 2>&1
		sleep "$period"
	done
}
flip_idle() {
	read v <$CG/chaos/idle/cpu.idle
	echo $((1 - v)) >$CG/chaos/idle/cpu.idle
}
NICE=0
renice_crowd() {
	NICE=$((1 - NICE))
	renice -n $NICE -p $(cat $CG/chaos/idle/cgroup.procs)
}
W=0
weigh_and_boost() {
	W=$(( (W + 1) % 3 ))
	case $W in
	0) echo 10 >$CG/chaos/busy/cpu.weight; mus-agent boost --cgroup $CG/chaos/busy --weight 4096 ;;
	1) echo 100 >$CG/chaos/busy/cpu.weight; mus-agent unboost --cgroup $CG/chaos/busy ;;
	2) echo 1000 >$CG/chaos/busy/cpu.weight ;;
	esac
}
L=0
limit() {
	L=$(( (L + 1) % 5 ))
	case $L in
	0) echo "10000 100000" ;;
	1) echo "50000 100000" ;;
	2) echo "max 100000" ;;
	3) echo "5000 20000" ;;
	4) echo "200000 100000" ;;
	esac >$CG/chaos/lim/cpu.max
}
M=0
move() {
	M=$((1 - M))
	from=$CG/chaos/pod/c$((M + 1)) to=$CG/chaos/pod/c$((2 - M))
	read pid <$from/cgroup.procs && echo $pid >$to/cgroup.procs
}
A=0
affinity() {
	A=$(( (A + 1) % 5 ))
	set -- 1 6 f 8 3
	shift $A
	for pid in $(cat $CG/chaos/aff/cgroup.procs); do
		taskset -p $1 $pid
	done
}
T=0
churn_cgroup() {
	T=$((T + 1))
	mkdir $CG/chaos/tmp$T && in_cg chaos/tmp$T true
	rmdir $CG/chaos/tmp$T
}
every 2 flip_idle &
every 0.1 renice_crowd &
every 1 weigh_and_boost &
every 0.5 limit &
every 0.3 move &
every 0.2 affinity &
every 0.2 churn_cgroup &
t=0
while [ $t -lt $SECS ]; do
	sleep 10
	t=$((t + 10))
	echo "@@MUS soak $t $(cat $SCX/state)"
done
sleep 1
for cg in idle busy lim pod/c1 pod/c2 aff forks; do
	echo "@@MUS soak_usage $cg $(usage chaos/$cg)"
done
echo "@@MUS state_after $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
kill_cgroups chaos/idle chaos/busy chaos/lim chaos/pod/c1 chaos/pod/c2 chaos/aff chaos/forks
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
