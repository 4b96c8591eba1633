# Which tasks are runnable on the confined CPU while a boosted Redis pair runs there
# under mus, with nothing else running (the bench's confined request/response case).
# Run from the workspace root:
#   cargo xtask vm-run evaluation/experiments/confined_runnable.sh \
#     --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --tool redis-server --tool redis-benchmark --tool redis-cli \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 500
# It samples every task's state 30 times, 50 ms apart, during a run of 40000 requests,
# and prints "@@MUS R cpu=<cpu> <comm> <cgroup> allowed=<CPUs>" for each runnable one,
# counted over the samples (the sampling shell itself is left out), then the runner's
# last --stats lines. RUNNER in /exp.conf names another mus-runner binary.
. /lib.sh
RUNNER=mus-runner
[ -f /exp.conf ] && . /exp.conf
echo +cpuset >$CG/cgroup.subtree_control
mkcg target
redis_in_target
start_sched /tmp/sched.log $RUNNER --stats 1
mus-agent boost --cgroup $CG/target >/dev/null
echo 1 >$CG/target/cpuset.cpus
sleep 1
sh -c "echo \$\$ > $CG/target/cgroup.procs && exec redis-benchmark -p 6379 -c 4 -t get \
	-n 40000 --csv" >/tmp/rb.out 2>&1 &
B=$!
sleep 2
for i in $(seq 30); do
	for t in /proc/[0-9]*/task/[0-9]*; do
		[ "$(cut -d' ' -f3 $t/stat 2>/dev/null)" = R ] || continue
		[ "${t##*/}" = $$ ] && continue
		cpu=$(awk '{ print $39 }' $t/stat 2>/dev/null)
		echo "@@MUS R cpu=$cpu $(cat $t/comm 2>/dev/null) $(cut -d: -f3 $t/cgroup 2>/dev/null)" \
			"allowed=$(sed -n 's/^Cpus_allowed_list:\t//p' $t/status)"
	done
	sleep 0.05
done | sort | uniq -c | sort -rn | head -20
wait $B
tail -1 /tmp/rb.out
tail -3 /tmp/sched.log | sed 's/^/@@MUS sched /'
