# mus-agent watch's fallback end to end: a pod granted a boost of 4096 next to a
# sibling pod (two hogs each on one vCPU, both at cpu.weight 100). Its share of the
# pair is measured with mus attached (the boost in the map), after mus-runner's
# SIGTERM and after a sysrq-S ejection (the runner alive, backing off) (the boost
# through cpu.weight), and after mus is back each time; a sampler watches throughout
# that the map entry and a raised cpu.weight never hold together under mus. Then a
# pod resize while the knob is raised, and the daemon's ends: SIGKILL (the next
# daemon adopts the raised knob, or restores it when the boost ended meanwhile) and
# SIGTERM (it restores the knob). Prepended by tests/vm_fallback.rs (tests/vm_common):
# the guest library (lib.sh), NS, POD, POD_UID, CTR, NODE, IMAGE, WITHIN (seconds),
# SECS (seconds a share is measured over), then lib_k8s.sh.
BASE=100
RAISED=400
W=$CG/$POD_CG/cpu.weight

# Polls "$@" every 0.2 s, for up to $WITHIN s, until it succeeds; reports
# "@@MUS $key <hundredths of a second it took>" or "@@MUS $key timeout".
within() {
	key=$1
	shift
	t0=$(now_cs)
	i=0
	while [ $i -le $((WITHIN * 5)) ]; do
		"$@" && { echo "@@MUS $key $(($(now_cs) - t0))"; return 0; }
		sleep 0.2
		i=$((i + 1))
	done
	echo "@@MUS $key timeout"
	return 1
}
weight_is() { [ "$(cat $W)" = "$1" ]; }
has_entry() { bpftool -j map dump pinned $PIN 2>/dev/null | tr -d ' \n' | grep -q "\"key\":$POD_ID[,}]"; }
no_entry() { ! has_entry; }
# Reports "@@MUS $1 <pod usec> <noise usec> <cpu.weight before> <cpu.weight after>".
share() {
	w0=$(cat $W)
	m=$(measure x $POD_CG $NOISE $SECS | cut -d' ' -f3-)
	echo "@@MUS $1 $m $w0 $(cat $W)"
}
start_watch() {
	mus-agent --kubeconfig $KC --node $NODE watch --policy /opt/policy.yaml --metrics-addr 127.0.0.1:9477 --resync-interval 2 >>/tmp/watch.log 2>&1 &
	WATCH=$!
}
# Every 0.2 s: whether the map holds the pod's entry, then its cpu.weight, then
# whether mus runs, in that order (the daemon lowers the knob before it writes the
# entry, and mus goes before the entry does, so a sample cannot see both across a
# transition). Counts the samples where mus runs with the entry and a raised knob.
sampler() {
	n=0
	both=0
	while [ ! -e /tmp/sampler.stop ]; do
		e=no
		has_entry && e=yes
		w=$(cat $W)
		s=$(cat $SCX/state)
		o=$(cat $SCX/root/ops 2>/dev/null)
		n=$((n + 1))
		if [ $e = yes ] && [ "$w" != $BASE ] && [ "$s" = enabled ] && [ "$o" = mus ]; then
			both=$((both + 1))
			echo "sampler: entry and cpu.weight $w at once" >&2
		fi
		sleep 0.2
	done
	echo "$both $n" >/tmp/sampler.out
}

start_runner /tmp/runner1.log
echo "@@MUS runner_state $(cat $SCX/state)"
echo "@@MUS root_ops $(cat $SCX/root/ops)"
kubelet_cgroups
mkdir -p $CG/$POD_CG/$CTR
hog $POD_CG/$CTR
hog $POD_CG/$CTR
POD_ID=$(stat -c %i $CG/$POD_CG)
echo "@@MUS pod_cgroup_id $POD_ID"
echo "@@MUS base_weight $(cat $W)"

# (a) mus attached: the boost is in the map, cpu.weight stays.
api_serve 1
start_api
start_watch
WITHIN_SETUP=$WITHIN
WITHIN=60 within t_attached has_entry
WITHIN=$WITHIN_SETUP
sampler &
SAMPLER=$!
sleep 1
share attached

# (b) mus-runner stopped (SIGTERM: it detaches and unpins): the knob goes up.
freeze 1
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_term_rc $?"
freeze 0
within t_stopped weight_is $RAISED
sleep 1
share stopped
scrape metrics_stopped
# kubelet resizes the pod (cpu.weight 200) while the knob is raised: re-applied on
# the new base; then resized back.
echo 200 >$W
within t_resized weight_is 800
echo $BASE >$W
within t_resized_back weight_is $RAISED

# mus back (a new runner, a new empty map): knob down, then the entry.
freeze 1
start_runner /tmp/runner2.log
freeze 0
within t_back1 weight_is $BASE
within t_back1_entry has_entry
sleep 1
share back1

# (c) sysrq-S ejections: the runner reloads after 1, 2, 4, 8 s, then 16 s; the
# boost goes through the knob in that last pause, the map's entry taken out.
freeze 1
for n in 1 2 3 4; do
	echo S >/proc/sysrq-trigger
	wait_state disabled
	wait_state enabled 20
done
echo S >/proc/sysrq-trigger
wait_state disabled
t_ejected=$(now_cs)
freeze 0
within t_ejected weight_is $RAISED
within t_ejected_entry no_entry
share ejected
echo "@@MUS ejected_pause_left_cs $((1600 - ($(now_cs) - t_ejected)))"
echo "@@MUS runner_alive_ejected $(kill -0 $RUNNER 2>/dev/null && echo yes || echo no)"
freeze 1
wait_state enabled 30
echo "@@MUS delays $(grep -o 'restarting in [0-9.]* s' /tmp/runner2.log | cut -d' ' -f3 | tr '\n' ' ')"
freeze 0

# (d) mus back by itself: knob down, then the entry.
within t_back2 weight_is $BASE
within t_back2_entry has_entry
sleep 1
share back2
: >/tmp/sampler.stop
wait $SAMPLER
echo "@@MUS both_at_once $(cat /tmp/sampler.out)"

# The daemon SIGKILLed with the knob raised: it stays raised; the next daemon adopts
# it (the same base, not the raised value as a new base), and on SIGTERM restores it.
freeze 1
kill -TERM $RUNNER
wait $RUNNER
freeze 0
within t_kill1_raised weight_is $RAISED
kill -KILL $WATCH
wait $WATCH 2>/dev/null
sleep 1
echo "@@MUS weight_after_kill $(cat $W)"
start_watch
sleep 8
echo "@@MUS weight_adopted $(cat $W)"
kill -TERM $WATCH
wait $WATCH
echo "@@MUS watch_term_rc $?"
echo "@@MUS weight_after_term $(cat $W)"

# SIGKILLed again with the knob raised, and the boost ends while no daemon runs, and
# mus comes back: the next daemon finds the knob and restores it.
start_watch
within t_kill2_raised weight_is $RAISED
kill -KILL $WATCH
wait $WATCH 2>/dev/null
api_serve 2
freeze 1
start_runner /tmp/runner3.log
freeze 0
start_watch
within t_restored weight_is $BASE
sleep 3
echo "@@MUS weight_final $(cat $W)"
dump dump_final
echo "@@MUS found_by_next $(grep -c 'raised by an earlier daemon' /tmp/watch.log)"
echo "@@MUS watch_alive $(kill -0 $WATCH 2>/dev/null && echo yes || echo no)"
echo "@@MUS final_state $(cat $SCX/state)"
kill_cgroups $NOISE $POD_CG/$CTR
echo "--- watch log"
grep -v ' DEBUG ' /tmp/watch.log | tail -60
