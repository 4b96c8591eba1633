# The verifier's cost of mus (tests/vm_verifier.rs): for each program of the mus_ops
# struct_ops map, the instructions the kernel's verifier processed, and the time from
# starting the runner to sched_ext enabled (open, verification, load and attach).
echo "@@MUS kernel $(uname -r)"
t0=$(now_cs)
mus-runner >/tmp/runner.log 2>&1 &
RUNNER=$!
# longer than start_runner's wait: a scheduler whose verification grew must still be
# measured
wait_state enabled 120
echo "@@MUS load_cs $(($(now_cs) - t0))"
echo "@@MUS state $(cat $SCX/state)"

# verified_insns is in the program info and in /proc's fdinfo of a program fd (bpftool 7.1
# does not print it): the runner holds an fd for each program it loaded.
for f in /proc/$RUNNER/fdinfo/*; do
	id=$(sed -n 's/^prog_id:[[:space:]]*//p' "$f")
	[ -n "$id" ] && echo "$id $(sed -n 's/^verified_insns:[[:space:]]*//p' "$f")"
done >/tmp/verified
echo "@@MUS runner_progs $(wc -l </tmp/verified)"
# bpftool names the program behind each callback of the map as
# "<signature> <name>/prog_id:<id>" (the full name, from the program's BTF; a name it
# cannot find is "<unknown_prog_name>", which the test refuses)
bpftool -j struct_ops dump name mus_ops >/tmp/ops.json
echo "@@MUS ops_dump_rc $?"
tr ',' '\n' </tmp/ops.json | sed -n 's#.* \([^ "]*\)/prog_id:\([0-9]*\)".*#\1 \2#p' |
	while read -r name id; do
		echo "@@MUS prog $name $(awk -v id="$id" '$1 == id { print $2 }' /tmp/verified)"
	done

kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
