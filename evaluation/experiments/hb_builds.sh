# hackbench -g 2 -l 900 (no noise, cgroup "target") under stock and mus-runner builds of
# several commits, interleaved, 3 rounds in one boot: the bisect of evaluation/journal/
# hackbench.md. Build each commit's runner in its own worktree and target dir (a shared
# target dir mixes the BPF objects of two commits: mus-bpf's build script fails), name
# them mus-runner-<commit>, then from the workspace root:
#   cargo xtask vm-run evaluation/experiments/hb_builds.sh --bin <each mus-runner-*> \
#     --tool hackbench --tool bpftool --file crates/mus-testbed/guest/lib.sh:/lib.sh \
#     --timeout 1500
# Prints "@@MUS hb <scheduler> r<round> <seconds> ctxt=<context switches>". /exp.conf
# (--file <host file>:/exp.conf) may set SCHEDS and ROUNDS (default 3). Round r starts
# with the r-th scheduler (each_round): until 2026-12-06 the order was fixed, and the
# build run right after stock was always second (evaluation/journal/hackbench.md).
. /lib.sh
SCHEDS="stock mus-runner-ffdeb20 mus-runner-eec32c0 mus-runner-476c5f8 mus-runner-16f10d3 mus-runner-head"
[ -f /exp.conf ] && . /exp.conf
mkcg target
# one round of hackbench under scheduler $1 (stock, or a runner's file name)
round() {
	[ $1 = stock ] || start_sched /tmp/$1.log $1
	x0=$(ctxt)
	t=$(in_cg target hackbench -g 2 -l 900 2>&1 | sed -n 's/^Time: *//p')
	x1=$(ctxt)
	echo "@@MUS hb $1 r$r $t ctxt=$((x1 - x0))"
	[ $1 = stock ] || stop_sched
}
ROUNDS=${ROUNDS:-3}
each_round
