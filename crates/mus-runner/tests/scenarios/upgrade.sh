# An upgrade from an older runner: its map is pinned at the old path
# (/sys/fs/bpf/high_prio_cgroups), with an older value layout (4 bytes, the weight
# only) and another capacity, so libbpf cannot reuse it. The runner must move the
# boosts into the new map under /sys/fs/bpf/mus/, every one of them, root-only.
OLD=/sys/fs/bpf/high_prio_cgroups
mkdir $CG/a $CG/b
A=$(stat -c %i $CG/a)
B=$(stat -c %i $CG/b)
echo "@@MUS a_id $A"
echo "@@MUS b_id $B"
bpftool map create $OLD type hash key 8 value 4 entries 64 name high_prio_cgroups
bpftool map update pinned $OLD key $(le_bytes $A 8) value $(le_bytes 4096 4)
bpftool map update pinned $OLD key $(le_bytes $B 8) value $(le_bytes 2048 4)
chmod 600 $OLD
echo "@@MUS old_map $(bpftool -j map show pinned $OLD)"
echo "@@MUS old_entries $(bpftool -j map dump pinned $OLD | grep -o '"key"' | wc -l)"

start_runner /tmp/runner.log
echo "@@MUS state $(cat $SCX/state)"
echo "@@MUS dir_mode $(stat -c %a $(dirname $PIN))"
echo "@@MUS pin_mode $(stat -c %a $PIN)"
[ -e $OLD ] || echo "@@MUS old_pin absent"
echo "@@MUS new_map $(bpftool -j map show pinned $PIN)"
echo "@@MUS dump $(bpftool -j map dump pinned $PIN)"
# The agent writes the migrated map like any other.
mus-agent boost --cgroup $CG/b --weight 1024
echo "@@MUS agent_rc $?"
kill -TERM $RUNNER
wait $RUNNER
echo "@@MUS runner_rc $?"
cat /tmp/runner.log
