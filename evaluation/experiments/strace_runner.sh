# Run from the workspace root (one boot, about 20 s of guest time):
#   cargo build -p mus-runner
#   cargo xtask vm-run evaluation/experiments/strace_runner.sh --bin target/debug/mus-runner \
#     --tool strace --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 300
# The syscalls mus-runner makes from execve to its exit on SIGTERM, and through one
# ejection (sysrq-S) and its restart: the list writeups/systemd-hardening.md compares
# with the unit's SystemCallFilter=.
. /lib.sh
strace -f -qq -o /tmp/st.txt mus-runner >/tmp/r.log 2>&1 &
STRACE=$!
wait_state enabled
sleep 1
echo S >/proc/sysrq-trigger
wait_state disabled 10
wait_state enabled 30
sleep 1
kill -TERM $(pidof mus-runner)
wait $STRACE
wait_state disabled 30
echo "@@MUS syscalls $(sed -e 's/^[0-9]* *//' -e 's/(.*//' /tmp/st.txt | grep -E '^[a-z_0-9]+$' | sort -u | tr '\n' ' ')"
tail -3 /tmp/r.log
