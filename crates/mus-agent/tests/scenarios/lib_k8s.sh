# The node side of a Kubernetes node, for mus-agent's VM scenarios (prepended by
# tests/vm_common after the testbed's guest library lib.sh and the scenario's variables): containerd
# and runc running a pod's containers under kubepods-style (cgroupfs driver) cgroups,
# and busybox httpd on loopback playing the API server through one CGI script.
KC=/opt/kubeconfig
POD_CG=kubepods/besteffort/pod$POD_UID
# Two hog processes: a backgrounded loop and the shell's own loop.
HOG2='while :; do :; done & while :; do :; done'
agent() { mus-agent --kubeconfig $KC --node $NODE "$@"; }
# "@@MUS $1 <output of the rest, on one line>", and "@@MUS $1_rc <status>".
report() {
	key=$1
	shift
	"$@" >/tmp/out 2>&1
	rc=$?
	echo "@@MUS ${key}_rc $rc"
	echo "@@MUS $key $(tr '\n' ' ' </tmp/out)"
}
dump() { echo "@@MUS $1 $(bpftool -j map dump pinned $PIN 2>&1 | tr -d '\n ')"; }
task_pid() { ctr -n k8s.io task ls 2>/dev/null | awk -v id="$1" '$1 == id && $3 == "RUNNING" { print $2 }'; }
# Waits up to 20 s for container $1's task to run; prints its PID.
wait_task() {
	i=0
	while [ $i -lt 200 ]; do
		p=$(task_pid "$1")
		[ -n "$p" ] && { echo "$p"; return 0; }
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# containerd, with the CRI plugin off (no kubelet here) and the native snapshotter;
# then the image built on the host. Reports containerd (up/down) and import(_rc).
start_containerd() {
	mkdir -p /var/lib/containerd /run/containerd
	containerd --config /etc/containerd/config.toml >/tmp/containerd.log 2>&1 &
	i=0
	while [ ! -S /run/containerd/containerd.sock ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	ctr version >/dev/null 2>&1 && echo "@@MUS containerd up" || { echo "@@MUS containerd down"; tail -20 /tmp/containerd.log; }
	report import ctr -n k8s.io image import --snapshotter native /opt/image.tar
}

# Runs container $2 (an ID) of the pod with two hogs, in the cgroup kubelet's cgroupfs
# driver would give it; reports $1(_rc); sets PID to its task's PID.
# As kubelet does, enables the cpu controller from the root down to the pod's cgroup
# (so that the pod's cpu.weight, and a boost of it, count against its siblings), and
# starts the noisy neighbour: a sibling pod of the same QoS class, with two hogs, in
# $NOISE.
NOISE=kubepods/besteffort/podnoise
kubelet_cgroups() {
	mkcg "$POD_CG"
	echo +cpu >"$CG/$POD_CG/cgroup.subtree_control"
	mkdir -p $CG/$NOISE
	hog $NOISE
	hog $NOISE
}

run_container() {
	report "$1" ctr -n k8s.io run --snapshotter native --cgroup "/$POD_CG/$2" -d "$IMAGE" "$2" sh -c "$HOG2"
	PID=$(wait_task "$2")
}

# The API server: busybox httpd on 127.0.0.1:8080 runs one CGI script for every path
# under /cgi-bin/api (the kubeconfig's server URL), so the kube client's
# /api/v1/... arrives as PATH_INFO. It answers from $API/pod.json and $API/list.json
# (api_serve swaps them): a GET of a pod or of the list returns them; a watch
# (watch=true) of pods sends the pod as one MODIFIED event if its resourceVersion
# differs from the one the client asks to watch from, then ends the stream after
# 2 s, as an API server's watch timeout does, and the client watches again. The
# Node list (this node, with this guest's boot ID) and the Namespace list are
# $API/nodes.json and $API/namespaces.json; their watches send nothing. CPUBoost
# objects: a LIST answers $API/cpuboosts.json (an empty list until api_boost), a
# watch sends $API/boost.json as ADDED as the pods' watch does, and a status PATCH
# (server-side apply) is answered with $API/boost.json. Every request is logged to
# $API/requests.
API=/tmp/api
start_api() {
	mkdir -p /tmp/www/cgi-bin $API
	: >$API/requests
	sed "s/@BOOT_ID@/$(cat /proc/sys/kernel/random/boot_id)/" /opt/api/nodes.json >$API/nodes.json
	cp /opt/api/namespaces.json $API/namespaces.json
	echo '{"apiVersion":"mus.patos.dev/v1alpha1","kind":"CPUBoostList","metadata":{"resourceVersion":"1"},"items":[]}' >$API/cpuboosts.json
	cat >/tmp/www/cgi-bin/api <<'CGI'
#!/bin/sh
API=/tmp/api
echo "$REQUEST_METHOD $PATH_INFO?$QUERY_STRING" >>$API/requests
printf 'Content-Type: application/json\r\n\r\n'
case "&$QUERY_STRING&" in
*'&watch=true&'*)
	from=$(echo "&$QUERY_STRING" | sed -n 's/.*&resourceVersion=\([^&]*\).*/\1/p')
	case "$PATH_INFO" in
	*/pods)
		now=$(sed -n 's/.*"resourceVersion":"\([^"]*\)".*/\1/p' $API/pod.json)
		[ "$from" != "$now" ] && printf '{"type":"MODIFIED","object":%s}\n' "$(cat $API/pod.json)"
		;;
	*/cpuboosts)
		if [ -f $API/boost.json ]; then
			now=$(sed -n 's/.*"resourceVersion":"\([^"]*\)".*/\1/p' $API/boost.json)
			[ "$from" != "$now" ] && printf '{"type":"ADDED","object":%s}\n' "$(cat $API/boost.json)"
		fi
		;;
	esac
	sleep 2
	;;
*)
	case "$REQUEST_METHOD $PATH_INFO" in
	'PATCH '*/cpuboosts/*/status) cat $API/boost.json ;;
	*/cpuboosts) cat $API/cpuboosts.json ;;
	*/pods) cat $API/list.json ;;
	*/nodes) cat $API/nodes.json ;;
	*/namespaces) cat $API/namespaces.json ;;
	*) cat $API/pod.json ;;
	esac
	;;
esac
CGI
	chmod +x /tmp/www/cgi-bin/api
	httpd -f -p 127.0.0.1:8080 -h /tmp/www &
	i=0
	while ! wget -q -O /dev/null http://127.0.0.1:8080/cgi-bin/api/readyz 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# Waits up to 60 s for the daemon serving $METRICS to be ready (/readyz: the map is
# open and a pass over the listed pods succeeded): set-up, not convergence, and a
# debug build starting next to four hogs on two TCG vCPUs has taken 10 s. Reports
# "@@MUS healthy_first_rc <wget's status>" and "@@MUS t_healthy_cs <hundredths>".
wait_ready() {
	t0=$(now_cs)
	i=0
	while ! wget -q -O /tmp/health $METRICS/readyz 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	echo "@@MUS healthy_first_rc $(wget -q -O /tmp/health $METRICS/readyz 2>/dev/null; echo $?)"
	echo "@@MUS t_healthy_cs $(($(now_cs) - t0))"
}

# Serves /opt/api/boost.json, created now (this guest's clock), from now on: its
# watch sends it, and a LIST finds it.
api_boost() {
	sed "s/@NOW@/$(date -u +%Y-%m-%dT%H:%M:%SZ)/" /opt/api/boost.json >$API/boost.json.new
	printf '{"apiVersion":"mus.patos.dev/v1alpha1","kind":"CPUBoostList","metadata":{"resourceVersion":"1"},"items":[%s]}\n' \
		"$(cat $API/boost.json.new)" >$API/cpuboosts.json.new
	mv $API/boost.json.new $API/boost.json
	mv $API/cpuboosts.json.new $API/cpuboosts.json
}

# Serves /opt/api/pod$1.json and /opt/api/list$1.json from now on (each file swapped
# in one rename, so a request sees the old file or the new one).
api_serve() {
	mkdir -p $API
	cp /opt/api/pod$1.json $API/pod.json.new && mv $API/pod.json.new $API/pod.json
	cp /opt/api/list$1.json $API/list.json.new && mv $API/list.json.new $API/list.json
}

# The watch daemon's HTTP endpoint, as the scenarios start it (--metrics-addr).
METRICS=http://127.0.0.1:9477
# "@@MUS $1 <the metrics' sample lines, joined by |>" and "@@MUS $1_rc <wget's status>".
scrape() {
	wget -q -O /tmp/metrics $METRICS/metrics 2>/tmp/metrics.err
	echo "@@MUS $1_rc $?"
	echo "@@MUS $1 $(grep -v '^#' /tmp/metrics | tr '\n' '|')"
}

# Freezes ($1 = 1) or thaws ($1 = 0) the hogs. The runner is restarted with them
# frozen: on this TCG guest, (de)attaching a sched_ext scheduler while every vCPU
# spins has once oopsed the kernel (int3 in __schedule while static branches were
# being patched), which is the test bed's trouble, not the agent's.
freeze() {
	for g in $NOISE $POD_CG; do
		echo $1 >$CG/$g/cgroup.freeze
		i=0
		while ! grep -q "^frozen $1" $CG/$g/cgroup.events && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	done
}

# Polls every 0.2 s, for up to $WITHIN s, until key $2's entry in the map is $1: a
# weight, "present" (any weight) or "absent" (no entry; no pinned map counts as
# absent); reports "@@MUS $3 <hundredths of a second it took>" or "@@MUS $3 timeout".
wait_weight() {
	t0=$(now_cs)
	i=0
	while [ $i -le $((WITHIN * 5)) ]; do
		w=$(bpftool -j map dump pinned $PIN 2>/dev/null | tr -d ' \n' |
			sed -n "s/.*\"key\":$2,\"value\":{\"weight\":\([0-9]*\).*/\1/p")
		case "$1:${w:-absent}" in
		absent:absent | present:[0-9]* | "$1:$1")
			echo "@@MUS $3 $(($(now_cs) - t0))"
			return 0
			;;
		esac
		sleep 0.2
		i=$((i + 1))
	done
	echo "@@MUS $3 timeout"
	return 1
}
