# What the O(1) hot path (issue 20, item 4) saves per context switch: two or more
# builds of mus-runner (each embeds its BPF) A/B in one guest boot, $ROUNDS rounds
# (default 8), the order of the builds rotating per round, mus loaded afresh for every
# run. Each build is passed as /bin/mus-runner-<name> (--bin); every run is one phase:
#   plain    stress-ng --switch 2 (two pairs of processes passing a byte through a
#            pipe, 4 s) in a cgroup of its own, no cpu.max anywhere;
#   otherlim the same while another, idle cgroup has a cpu.max (the quota code is
#            live, the load's cgroup has no limit on its path);
#   limited  the load's own cgroup under a cpu.max it never reaches (4 CPUs of
#            quota on 2 vCPUs): every charge and check walks its path.
# bpf_stats (kernel.bpf_stats_enabled) gives each callback's run time and calls.
# Run from the workspace root, with the builds copied aside, e.g.:
#   cargo xtask vm-run evaluation/experiments/hotpath_cost.sh \
#     --bin /tmp/hotpath/mus-runner-base --bin /tmp/hotpath/mus-runner-step1 \
#     --tool stress-ng --tool bpftool \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh \
#     --file evaluation/experiments/switch_load.sh:/switch_load.sh --timeout 1800
# It prints "@@MUS switch <build>_<phase> ctxt_per_s=<n> ns_per_switch=<n>" and
# "@@MUS progs <build>_<phase> <name=ns:calls ...>" per run;
#   python3 evaluation/experiments/wait_cost_summary.py <output> <build>_<phase> base_<phase>
# pairs them (evaluation/journal/hotpath.md has the results).
# Optional: /exp.conf (--file <conf>:/exp.conf) may set ROUNDS and PHASES (a subset of
# "plain otherlim limited"), for example to weigh a change to the no-limit path alone.
. /lib.sh
. /switch_load.sh
PHASES="plain otherlim limited"
[ -f /exp.conf ] && . /exp.conf

echo 1 >/proc/sys/kernel/bpf_stats_enabled
mkcg load
mkcg capped
builds=$(ls /bin | sed -n 's/^mus-runner-//p')

# One run of build $1 in phase $2.
run() {
	name=$1_$2
	echo max >$CG/load/cpu.max
	echo max >$CG/capped/cpu.max
	case $2 in
	otherlim) echo "50000 100000" >$CG/capped/cpu.max ;;
	limited) echo "400000 100000" >$CG/load/cpu.max ;;
	esac
	switch_run $name mus-runner-$1
}

r=1
while [ $r -le "${ROUNDS:-8}" ]; do
	for phase in $PHASES; do
		# the builds' order rotates: round r starts with build number r mod n
		for b in $(rotate $((r - 1)) $builds); do
			run $b $phase
		done
	done
	r=$((r + 1))
done
