# cpu.max as Kubernetes uses it, on 4 vCPUs: 32 busy threads under 0.1 CPU; a limited
# parent (0.6 CPU) over a limited child (0.2 CPU) and an unlimited one, 8 threads each;
# then every limit removed while the threads wait throttled. tests/vm.rs judges the
# CPU time each used against its quota, how long the 32 took to move in, and that mus
# stays attached throughout.
start_runner /tmp/runner.log
mkcg many
echo "10000 100000" >$CG/many/cpu.max
# each hog writes itself into cgroup.procs: held back on its way out of that write,
# it would hold up every fork (in_syscall() in the scheduler)
t0=$(now_cs)
hogs many 32
until [ "$(wc -l <$CG/many/cgroup.procs)" -ge 32 ]; do sleep 0.05; done
echo "@@MUS many_moved_cs $(($(now_cs) - t0))"
sleep 2
measure_n many 10 many
mkcg nest/a
mkcg nest/b
echo "60000 100000" >$CG/nest/cpu.max
echo "20000 100000" >$CG/nest/a/cpu.max
hogs nest/a 8
hogs nest/b 8
sleep 2
measure_n nested 10 nest nest/a nest/b
# the limits go while most of these threads wait in the throttled queue
echo max >$CG/many/cpu.max
echo max >$CG/nest/a/cpu.max
echo max >$CG/nest/cpu.max
sleep 1
measure_n unlimited 5 many nest/a
echo "@@MUS state_after $(cat $SCX/state)"
kill -0 $RUNNER && echo "@@MUS runner_alive yes"
kill_cgroups many nest/a nest/b
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
