# The agent's seccomp profile against the guest's real containerd and runc: the
# profile containerd's RuntimeDefault gives a container with no capabilities (read
# back from the container's OCI spec), and what a process in such a container can
# do to the runner's pinned map under that default, under the committed profile
# (/opt/mus-agent.json: that default plus bpf) and with no filter. Prepended by
# tests/vm_seccomp.rs (tests/vm_common): the guest library (lib.sh), NS, POD,
# POD_UID, CTR, NODE, IMAGE, then lib_k8s.sh.
PROFILE=/opt/mus-agent.json
# ctr's default capabilities (containerd's oci.populateDefaultUnixSpec), all
# dropped, as the DaemonSet's `drop: ["ALL"]` does (ctr 1.6 has no ALL). The test
# checks the spec says none are left, so a capability containerd adds is noticed.
NOCAPS=""
for c in CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE; do
	NOCAPS="$NOCAPS --cap-drop CAP_$c"
done
# The agent's view inside a container: the pin directory (as the DaemonSet's
# mus-pins mount), the host's cgroup tree read-only (as its cgroup mount), and the
# guest's binaries and their libraries (the image holds only busybox).
MOUNTS="--mount type=bind,src=/sys/fs/bpf/mus,dst=/pins,options=rbind:rw
--mount type=bind,src=/sys/fs/cgroup,dst=/host/cgroup,options=rbind:ro
--mount type=bind,src=/bin,dst=/guest/bin,options=rbind:ro
--mount type=bind,src=/usr/sbin,dst=/guest/sbin,options=rbind:ro
--mount type=bind,src=/lib,dst=/lib,options=rbind:ro
--mount type=bind,src=/lib64,dst=/lib64,options=rbind:ro"
CPIN=/pins/high_prio_cgroups
# The agent's CLI in such a container, on the pin and the cgroup tree mounted there.
AGENT="/guest/bin/mus-agent --pin-path $CPIN --cgroup-root /host/cgroup"
# Runs "$@" as uid 0 with no capabilities in a new container named $2, under
# seccomp $1: "default" (containerd's RuntimeDefault), "profile" (the committed
# one) or "none" (Unconfined); reports $2(_rc) as report does.
N=0
in_ctr() {
	case $1 in
	default) sec=--seccomp ;;
	profile) sec="--seccomp --seccomp-profile $PROFILE" ;;
	none) sec="" ;;
	esac
	key=$2
	shift 2
	N=$((N + 1))
	report "$key" ctr -n k8s.io run --rm --snapshotter native $sec $NOCAPS $MOUNTS "$IMAGE" "sec$N" "$@"
}

start_runner /tmp/runner.log
echo "@@MUS runner_state $(cat $SCX/state)"
start_containerd
mkcg "$POD_CG"
POD_ID=$(stat -c %i $CG/$POD_CG)
echo "@@MUS pod_cgroup_id $POD_ID"

# (a) What containerd's RuntimeDefault is for a container with no capabilities: the
# seccomp section of a created container's spec (`ctr run --seccomp` and the CRI
# plugin's RuntimeDefault call the same seccomp.WithDefaultProfile), and the
# capabilities it was computed for.
report create ctr -n k8s.io container create --snapshotter native --seccomp $NOCAPS "$IMAGE" default-spec true
# The container's record, spec included, a result line per line: the host parses it
# (the guest has no JSON tool).
ctr -n k8s.io container info default-spec 2>&1 | while IFS= read -r line; do echo "@@MUS spec $line"; done
echo "@@MUS containerd_version $(containerd --version)"
echo "@@MUS runc_version $(runc --version | head -1)"
echo "@@MUS kernel $(uname -r)"

# (b) Under the committed profile: the agent's CLI opens the pin, boosts the pod's
# cgroup and unboosts it; the map is read from outside the container after each.
in_ctr profile profile_boost $AGENT boost --cgroup $POD_CG --weight 3000
dump dump_profile_boosted
in_ctr profile profile_unboost $AGENT unboost --cgroup $POD_CG
dump dump_profile_unboosted
# bpftool too, so that (c)'s bpftool refusal is the filter's and not bpftool's.
in_ctr profile profile_bpftool /guest/sbin/bpftool map show pinned $CPIN

# (c) Under containerd's RuntimeDefault: the same is refused; bpftool names the errno.
in_ctr default default_boost $AGENT boost --cgroup $POD_CG --weight 3000
dump dump_default
in_ctr default default_bpftool /guest/sbin/bpftool map show pinned $CPIN

# (d) A new user namespace, a syscall RuntimeDefault refuses a container with no
# capabilities: refused under the committed profile too, allowed with no filter
# (so the refusal is the filter's).
in_ctr profile profile_userns busybox unshare -U true
in_ctr none none_userns busybox unshare -U true

echo "@@MUS runner_alive $(kill -0 $RUNNER 2>/dev/null && echo yes || echo no)"
tail -5 /tmp/containerd.log
