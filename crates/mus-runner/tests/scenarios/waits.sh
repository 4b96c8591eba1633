# Run-queue waits per cgroup, by whose doing they are (issue 22, item 1), on 2 vCPUs:
# (a) one busy thread next to a cgroup of 8: its waits are spent behind the others;
# (b) 8 busy threads alone: their waits are their own;
# (c) 2 busy threads alone under cpu.max 0.2 CPU: throttled time, not waits behind others.
# Each phase reports the cgroup's entry of the pinned histograms, read by bpftool, before
# and after 10 s ("@@MUS <phase>_before/_after <JSON>"); tests/vm.rs sums the CPUs and
# subtracts. (a) is also watched with --monitor. Last, --no-wait-histograms records none.
WAITS=/sys/fs/bpf/mus/mus_cgroup_waits
start_runner /tmp/runner.log
echo "@@MUS waits_pin_mode $(stat -c %a $WAITS)"

# The entry of cgroup $2 (a directory under $CG) as "@@MUS $1 <bpftool JSON>"; {} if
# it has none (bpftool prints null, or nothing).
entry() {
	out=$(bpftool -j map lookup pinned $WAITS key $(le_bytes "$(stat -c %i "$CG/$2")" 8) 2>/dev/null)
	case "$out" in
	'' | null) out='{}' ;;
	esac
	echo "@@MUS $1 $out"
}

# Phase $1: the waits of cgroup $2 over 10 s.
phase() {
	sleep 1
	entry "$1_before" "$2"
	sleep 10
	entry "$1_after" "$2"
}

mkcg solo
mkcg noise
hogs noise 8
hog solo
echo "@@MUS solo_id $(stat -c %i $CG/solo)"
mus-runner --monitor 5 >/tmp/monitor.log 2>&1 &
MONITOR=$!
phase solo solo
kill -TERM $MONITOR
wait $MONITOR
echo "@@MUS monitor_rc $?"
echo "@@MUS monitor_solo $(grep "^waits cgroup=$(stat -c %i $CG/solo) " /tmp/monitor.log | tail -n 1)"
kill_cgroups solo noise

mkcg crowd
hogs crowd 8
phase crowd crowd
kill_cgroups crowd

mkcg capped
echo "20000 100000" >$CG/capped/cpu.max
hogs capped 2
phase capped capped
kill_cgroups capped

echo "@@MUS state_after $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
echo "@@MUS waits_pin_after_term $([ -e $WAITS ] && echo present || echo absent)"

# Off: the same busy cgroup leaves no entry.
start_runner /tmp/runner_off.log --no-wait-histograms
mkcg off
hogs off 4
sleep 3
entry off off
kill_cgroups off
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS off_runner_rc $?"
cat /tmp/runner.log
