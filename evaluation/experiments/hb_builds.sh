# hackbench -g 2 -l 900 (no noise, cgroup "target") under stock and mus-runner builds of
# several commits, interleaved, 3 rounds in one boot: the bisect of evaluation/journal/
# hackbench.md. Build each commit's runner in its own worktree and target dir (a shared
# target dir mixes the BPF objects of two commits: mus-bpf's build script fails), name
# them mus-runner-<commit>, then from the workspace root:
#   cargo xtask vm-run evaluation/experiments/hb_builds.sh --bin <each mus-runner-*> \
#     --tool hackbench --tool bpftool --file crates/mus-testbed/guest/lib.sh:/lib.sh \
#     --timeout 1500
# Prints "@@MUS hb <scheduler> r<round> <seconds> ctxt=<context switches>". /exp.conf
# (--file <host file>:/exp.conf) may set SCHEDS and ROUNDS (default 3).
. /lib.sh
SCHEDS="stock mus-runner-ffdeb20 mus-runner-eec32c0 mus-runner-476c5f8 mus-runner-16f10d3 mus-runner-head"
[ -f /exp.conf ] && . /exp.conf
mkcg target
r=1
while [ $r -le "${ROUNDS:-3}" ]; do
	for s in $SCHEDS; do
		if [ $s != stock ]; then
			$s >/tmp/$s.log 2>&1 &
			PID=$!
			attached_or_exit /tmp/$s.log
		fi
		x0=$(ctxt)
		t=$(in_cg target hackbench -g 2 -l 900 2>&1 | sed -n 's/^Time: *//p')
		x1=$(ctxt)
		echo "@@MUS hb $s r$r $t ctxt=$((x1 - x0))"
		if [ $s != stock ]; then
			kill -TERM $PID; wait $PID
			wait_state disabled
		fi
	done
	r=$((r + 1))
done
