# How long per-CPU kernel threads (ksoftirqd/N, kworker/N:M) wait for a CPU while a
# boosted cgroup keeps every CPU busy, under stock and mus builds, interleaved round by
# round in one boot. Such a thread works for the tasks of its CPU (deferred softirqs,
# per-CPU work items); mus put one woken on its busy CPU next in line, where it waited
# out the running task's slice, until per-CPU kthreads were let preempt
# (evaluation/journal/nonoise.md, "ksoftirqd waited a boosted slice"). A kthread woken
# from another CPU (a work item queued there) is not covered by that rule. Run from the
# workspace root:
#   cargo build -p mus-runner -p mus-agent
#   cargo xtask vm-run evaluation/experiments/kthread_wait.sh \
#     --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 900
# Per round and scheduler it prints "@@MUS kthreads <scheduler> ksoftirqd=<ms waited>/
# <times run> kworker=<the same> top=<the eight per-CPU kthreads that waited most,
# comm=us/runs>", over SECS seconds of one boosted CPU hog per CPU, while a shell in
# the root cgroup reads /proc/sys/vm/stat_refresh every 50 ms (each read queues a work
# item on every CPU's bound kworker, from the reader's CPU, and waits for them all) and
# pings the loopback (softirqs). <scheduler> is "stock" or a binary passed with --bin;
# mus runs are boosted with mus-agent's default weight. /exp.conf may set SCHEDS,
# ROUNDS and SECS.
. /lib.sh
SCHEDS="stock mus-runner" ROUNDS=3 SECS=10
[ -f /exp.conf ] && . /exp.conf
mkcg target
PERCPU='^(ksoftirqd|kworker)/[0-9]'

# The per-CPU kthreads' delay between delays() files $1 and $2, summed by kind, as
# "ksoftirqd=<ms>/<runs> kworker=<ms>/<runs>".
kthread_sums() {
	delay_deltas $1 $2 "$PERCPU" |
		awk '{ k = $2; sub(/\/.*/, "", k); w[k] += $1; r[k] += $3 }
		END { printf "ksoftirqd=%d/%d kworker=%d/%d", w["ksoftirqd"] / 1e6,
			r["ksoftirqd"], w["kworker"] / 1e6, r["kworker"] }'
}

round() {
	if [ $1 != stock ]; then
		start_sched /tmp/sched.log $1
		mus-agent boost --cgroup $CG/target >/dev/null
	fi
	hogs target $(nproc)
	sleep 1
	delays /tmp/k0
	end=$(($(now_cs) + SECS * 100))
	while [ $(now_cs) -lt $end ]; do
		cat /proc/sys/vm/stat_refresh >/dev/null 2>&1
		ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1
		sleep 0.05
	done
	delays /tmp/k1
	echo "@@MUS kthreads $1 $(kthread_sums /tmp/k0 /tmp/k1) top=$(top_delays /tmp/k0 /tmp/k1 8 "$PERCPU")"
	kill_cgroups target
	[ $1 = stock ] || stop_sched
}

each_round
