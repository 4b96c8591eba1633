# The hardened unit's confinement, checked in the QEMU guest (writeups/systemd-hardening.md):
#   gcc -static -o /tmp/confine crates/mus-runner/systemd/confinement/confine.c
#   cargo build -p mus-runner
#   cargo xtask vm-run crates/mus-runner/systemd/confinement/check.sh --bin target/debug/mus-runner \
#       --bin /tmp/confine --tool strace --tool unshare \
#       --file crates/mus-runner/tests/scenarios/lib.sh:/lib.sh [--kernel lts612]
# Reports: the runner refused with CAP_BPF or CAP_PERFMON alone; attached, pinned where
# the host sees it and detached with both, no_new_privs and MDWE, /sys read-only but
# bpffs; and every syscall it made.

# wait_state, from the runner's guest tests.
. /lib.sh
mount | grep -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
CAP_PERFMON=38
CAP_BPF=39

# One capability is not enough.
CAPS=$CAP_BPF MDWE=1 confine mus-runner --stats 1 >/tmp/bpf.log 2>&1
echo "@@MUS only_cap_bpf_exit $?"
CAPS=$CAP_PERFMON MDWE=1 confine mus-runner --stats 1 >/tmp/perfmon.log 2>&1
echo "@@MUS only_cap_perfmon_exit $?"

# Both, in a mount namespace laid out as ReadOnlyPaths=/sys + ReadWritePaths=/sys/fs/bpf.
cat >/tmp/inner.sh <<IN
set -e
mount --make-rprivate /
# Every mount at or below /sys read-only (a mount namespace copies them all), then
# bpffs writable again.
for m in \$(awk '\$2 ~ "^/sys" {print \$2}' /proc/mounts); do
	mount -o remount,bind,ro \$m
done
mount -o remount,bind,rw /sys/fs/bpf
CAPS=$CAP_BPF,$CAP_PERFMON MDWE=1 exec confine strace -f -qq -o /tmp/strace.txt mus-runner --stats 1
IN
unshare -m sh /tmp/inner.sh >/tmp/confined.log 2>&1 &
P=$!
wait_state enabled 60 && echo "@@MUS attached yes"
sleep 2
# The mounts as the runner sees them: rw or ro.
mounts=/proc/$(pidof mus-runner)/mounts
echo "@@MUS runner_sys $(awk '$2 == "/sys" {print substr($4, 1, 2)}' $mounts)"
echo "@@MUS runner_sys_fs_cgroup $(awk '$2 == "/sys/fs/cgroup" {print substr($4, 1, 2)}' $mounts)"
echo "@@MUS runner_sys_fs_bpf $(awk '$2 == "/sys/fs/bpf" {print substr($4, 1, 2)}' $mounts)"
echo "@@MUS pins_seen_by_host $(ls /sys/fs/bpf/mus | tr '\n' ' ')"
kill -TERM "$(pidof mus-runner)"
wait $P
echo "@@MUS confined_exit $?"
wait_state disabled 20 && echo "@@MUS detached yes"
grep -E "WARN|ERROR" /tmp/confined.log
echo "@@MUS syscalls $(sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' /tmp/strace.txt | sort -u | tr '\n' ' ')"
