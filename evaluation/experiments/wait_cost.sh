# What the run-queue wait histograms cost per context switch (issue 22, item 1): a
# context-switch-heavy load under mus with the histograms on and off
# (--no-wait-histograms), $ROUNDS rounds (default 12) in one guest boot, the order
# alternating per round. The load: stress-ng --switch 2 (two pairs of processes
# passing a byte through a pipe, 4 s) in a cgroup of its own, then, with HB=1,
# hackbench -g 2 -l 300. Each run reports the switch rate (/proc/stat's ctxt per
# second), stress-ng's own figure (ns per context switch), hackbench's time, and the
# scheduler's callbacks' BPF run time and calls (kernel.bpf_stats_enabled).
# Run from the workspace root:
#   cargo build -p mus-runner
#   cargo xtask vm-run evaluation/experiments/wait_cost.sh --bin target/debug/mus-runner \
#     --tool stress-ng --tool hackbench --tool bpftool \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh \
#     --file evaluation/experiments/switch_load.sh:/switch_load.sh --timeout 1200
# It prints "@@MUS switch <condition> ctxt_per_s=<n> ns_per_switch=<n>",
# "@@MUS hb <condition> <seconds> ctxt=<n>" and "@@MUS progs <condition> <name=ns:calls ...>"
# per run; evaluation/journal/waits.md has the ratios (and the first run, with HB=1 and
# six rounds: prepend "HB=1 ROUNDS=6" to a copy of the script).
. /lib.sh
. /switch_load.sh

echo 1 >/proc/sys/kernel/bpf_stats_enabled
mkcg load

# One run under mus named $1, with mus-runner's further arguments.
run() {
	name=$1
	shift
	switch_run $name mus-runner "$@"
}

r=1
while [ $r -le "${ROUNDS:-12}" ]; do
	if [ $((r % 2)) = 1 ]; then
		run on
		run off --no-wait-histograms
	else
		run off --no-wait-histograms
		run on
	fi
	r=$((r + 1))
done
