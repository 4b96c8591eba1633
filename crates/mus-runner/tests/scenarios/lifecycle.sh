# Attach, monitor the counters from beside, write through mus-common, refuse a second
# runner, survive SIGKILL with the boosts, stop cleanly on SIGTERM.
start_runner /tmp/runner1.log
echo "@@MUS attach_state $(cat $SCX/state)"
echo "@@MUS attach_ops $(cat $SCX/root/ops)"
echo "@@MUS pin_mode $(stat -c %a $PIN)"
echo "@@MUS pin_dir_mode $(stat -c %a $(dirname $PIN))"
echo "@@MUS stats_pin_mode $(stat -c %a $STATS)"
echo "@@MUS stats_pin_ino $(stat -c %i $STATS)"

# --monitor beside the running scheduler: its counters since load, then a line a second
mus-runner --monitor 1 >/tmp/monitor.log 2>&1 &
MONITOR=$!
sleep 2.5
kill -TERM $MONITOR
wait $MONITOR
echo "@@MUS monitor_rc $?"
echo "@@MUS monitor_first $(head -n 1 /tmp/monitor.log)"
echo "@@MUS monitor_intervals $(grep -c '^last 1s: ' /tmp/monitor.log)"

mkdir $CG/boosted
echo "@@MUS boosted_id $(stat -c %i $CG/boosted)"
mus-agent boost --cgroup $CG/boosted --weight 4096
echo "@@MUS boost_rc $?"
echo "@@MUS dump $(bpftool -j map dump pinned $PIN)"

mus-runner >/tmp/runner2.log 2>&1
echo "@@MUS second_rc $?"
echo "@@MUS second_msg $(tail -n 1 /tmp/runner2.log)"
echo "@@MUS second_after_state $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS first_alive yes"

t0=$(now_cs)
kill -KILL $RUNNER
wait_state disabled
t1=$(now_cs)
echo "@@MUS sigkill_detach_cs $((t1 - t0))"
[ -e $PIN ] && echo "@@MUS pin_after_kill present"

start_runner /tmp/runner3.log
echo "@@MUS restart_state $(cat $SCX/state)"
echo "@@MUS restart_dump $(bpftool -j map dump pinned $PIN)"
# the crashed runner's counters pin, replaced by this runner's
echo "@@MUS restart_stats_pin_mode $(stat -c %a $STATS)"
echo "@@MUS restart_stats_pin_ino $(stat -c %i $STATS)"

kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS sigterm_rc $?"
echo "@@MUS final_state $(cat $SCX/state)"
[ -e $PIN ] || echo "@@MUS pin_after_term absent"
[ -e $STATS ] || echo "@@MUS stats_pin_after_term absent"
# ... and with no scheduler, nothing to monitor
mus-runner --monitor 1 >/tmp/monitor_none.log 2>&1
echo "@@MUS monitor_none_rc $?"
echo "@@MUS monitor_none_msg $(tail -n 1 /tmp/monitor_none.log)"
for f in /tmp/runner*.log /tmp/monitor*.log; do echo "--- $f"; cat $f; done
