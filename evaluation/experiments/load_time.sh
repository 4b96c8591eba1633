# How long mus-runner takes from its start until sched_ext reports it enabled (most of
# it the kernel's verifier), for two builds alternated twice in one boot: the figures
# behind lead_over() being a global BPF function (main.bpf.c). The 6.12 verifier is the
# slower one, and the lifecycle test gives the runner 10 s. Run from the workspace root:
#   cp target/debug/mus-runner /tmp/old/mus-runner-old    # before the change
#   cargo build -p mus-runner                              # after it
#   cargo xtask vm-run evaluation/experiments/load_time.sh --kernel lts612 \
#     --bin /tmp/old/mus-runner-old --bin target/debug/mus-runner \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 400
# It prints "@@MUS load_<runner> <centiseconds>" per start.
. /lib.sh
for b in mus-runner-old mus-runner mus-runner-old mus-runner; do
	t0=$(now_cs)
	start_sched /tmp/s.log $b
	t1=$(now_cs)
	echo "@@MUS load_$b $((t1 - t0))"
	stop_sched
done
