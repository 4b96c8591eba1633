# The operator disables sched_ext with sysrq-S three times in a row. Each ejection is
# logged as "user"; the runner loads the scheduler again after 1 s, 2 s, then 4 s
# (doubling, since each run was short), keeping the map and so the boost.
start_runner /tmp/runner.log
mkdir $CG/boosted
echo "@@MUS boosted_id $(stat -c %i $CG/boosted)"
mus-agent boost --cgroup $CG/boosted --weight 4096
for n in 1 2 3; do
	t0=$(now_cs)
	echo S >/proc/sysrq-trigger
	wait_state disabled
	wait_state enabled
	t1=$(now_cs)
	echo "@@MUS gap$n $((t1 - t0))"
done
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
echo "@@MUS dump $(bpftool -j map dump pinned $PIN)"
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
[ -e $PIN ] || echo "@@MUS pin_after_term absent"
echo "@@MUS ejections $(grep -c 'scheduler ejected (user)' /tmp/runner.log)"
echo "@@MUS delays $(grep -o 'restarting in [0-9.]* s' /tmp/runner.log | cut -d' ' -f3 | tr '\n' ' ')"
cat /tmp/runner.log
