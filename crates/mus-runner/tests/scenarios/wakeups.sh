# Three findings on wake-ups, each reproduced under mus:
# 1. A task woken straight onto an idle CPU used to keep the vtime it had before its
#    sleep, unclamped, and could then hold its CPU (its prev kept running while its
#    vtime was the smallest) for as long as that hoard lasted.
# 2. The victim search trusted per-CPU state that was not cleared when a CPU stopped
#    running one of our tasks, and could queue a waking task behind a task of another
#    scheduling class (here a SCHED_FIFO hog) instead of preempting one of ours.
# 3. A timer wake-up of an unboosted task (the bench's bystander: next to noise and a
#    boosted cgroup's CPU hogs) waited for the next tick (4 ms at HZ=250) far more often
#    than under the stock scheduler: the grace meant for message passing (a task that
#    ran less than the shortest slice is not preempted) spared every task, CPU hogs
#    too, and a CPU kicked by a waker that another CPU then served was spared every
#    later waker for as long as its task ran on.
# And one path to check: a wake-up confined to its busy CPU runs next there (4).
NCPU=$(nproc)
mkcg noise; mkcg target; mkcg by

# Part 3's measurement under the running scheduler ($1 names it), the target boosted.
bystander() {
	hogs noise $((2 * NCPU))
	hogs target $NCPU
	sleep 1
	echo "@@MUS bystander_$1 $(latency_probe by 1500)"
	kill_cgroups noise target
}

# 3, under the stock scheduler with its own 4x (cpu.weight 400 against 100).
echo 400 >$CG/target/cpu.weight
bystander stock
echo 100 >$CG/target/cpu.weight

start_runner /tmp/runner.log --stats 5

# 3, under mus.
mus-agent boost --cgroup $CG/target >/dev/null
bystander mus
mus-agent unboost --cgroup $CG/target >/dev/null

mkcg hoard

# 1. T sleeps 3 s while two hogs of its cgroup advance the queue's vtime; one hog
# ends just before T wakes, so T lands on an idle CPU; then two more hogs join.
# Fair: 4 tasks on 2 CPUs, half a CPU each.
sh -c "echo \$\$ > $CG/hoard/cgroup.procs; sleep 3; while :; do :; done" &
T=$!
hogs hoard 1
sh -c "echo \$\$ > $CG/hoard/cgroup.procs; sleep 2.8" &
sh -c "echo \$\$ > $CG/hoard/cgroup.procs; end=\$(( \$(date +%s) + 3 )); while [ \$(date +%s) -lt \$end ]; do :; done" &
sleep 3.3
hogs hoard 2
t0=$(cut -d' ' -f14 /proc/$T/stat)
c0=$(now_cs)
sleep 2
t1=$(cut -d' ' -f14 /proc/$T/stat)
c1=$(now_cs)
echo "@@MUS hoard_ticks $((t1 - t0)) $((c1 - c0))"
kill_cgroups hoard

# 2. A SCHED_FIFO hog on CPU 1 (the fair class's RT throttling leaves 5%), noise on
# both CPUs, and a boosted cyclictest: its wake-ups must never wait behind the RT hog.
mkcg probe
mus-agent boost --cgroup $CG/probe >/dev/null
hogs noise 2
# (in the root cgroup: a kernel with RT group scheduling refuses RT tasks elsewhere)
taskset -c 1 chrt -f 50 sh -c 'while :; do :; done' &
RT=$!
sleep 1
sh -c "echo \$\$ > $CG/probe/cgroup.procs; exec cyclictest -m -p0 --policy=other -i 2000 -l 1000 -q" >/tmp/cyc.log 2>&1
echo "@@MUS rt_probe $(sed -n 's/.*Avg: *\([0-9]*\) Max: *\([0-9]*\).*/\1 \2/p' /tmp/cyc.log)"
kill -KILL $RT
kill_cgroups noise probe

# 4. A pipe pair confined to CPU 1 with nothing else queued there: a wake-up that may
# only run on the busy CPU handling it runs next there, from its local queue, with no
# ops.dispatch (runs_next_here()), and the counters say so.
local_wakeups() {
	timeout 3 mus-runner --monitor 1 2>/dev/null | head -n 1 |
		tr ' ' '\n' | sed -n 's/^local_wakeups=//p'
}
mkcg pair
lw0=$(local_wakeups)
in_cg pair taskset -c 1 stress-ng --switch 1 --switch-ops 20000 --quiet
lw1=$(local_wakeups)
echo "@@MUS confined_pair_local_wakeups $((lw1 - lw0))"
kill_cgroups pair

echo "@@MUS state_after $(cat $SCX/state)"
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
