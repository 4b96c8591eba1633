# Where the unconfined no-noise request/response pair's wake-ups go (issue 20, item 5):
# redis-server and redis-benchmark -c 4 -t get in one boosted cgroup, unconfined, no
# noise, under stock and mus-runner builds in turn, with the kernel's sched_switch,
# sched_waking, ipi_send_cpu and IPI-entry events traced (tracefs: any scheduling
# class, so stock and mus compare). Per run, for the pair's two main threads:
#   "@@MUS tail <scheduler> rps=.. p99_ms=.. wakes=<n> wake_us=<log2 histogram of
#    waking -> running, 'bucket:count'> pre=<n> pre_us=<the same for preempted ->
#    running again> idle_waits=<times a CPU went idle while a pair thread waited>
#    idle_wait_us=<their summed time until the thread ran>"
#   "@@MUS seg <scheduler> <interval> n=.. p50=.. p90=.. mean=.. us" for the wake-ups
#    by class (class_<same|other>_<idle|busy>: run on the waker's CPU or another, that
#    CPU idle when the thread woke or not; busy_with_<self|pair|comm>: what it ran),
#    the wake-ups that caught the thread still on its CPU split at its switch-out
#    (self_until_off, self_off_to_run), and those onto another, idle CPU split in
#    three (idle_waker: until the waker sent the IPI; idle_deliver; idle_target: from
#    the IPI's entry to the switch; idle_total)
#   "@@MUS long <scheduler> <wake|pre> <us> cpu=<where it ran> at_wake=<what each CPU
#    ran then> then=<the tasks switched in meanwhile, comm@cpu>" for waits over LONG_US.
# Findings: evaluation/journal/nonoise.md, "the pair's wake-ups, traced".
# Run from the workspace root:
#   cargo build -p mus-runner -p mus-agent
#   cargo xtask vm-run evaluation/experiments/rr_tail_trace.sh \
#     --bin target/debug/mus-runner --bin target/debug/mus-agent \
#     --tool redis-server --tool redis-benchmark --tool redis-cli --tool bpftool \
#     --file crates/mus-testbed/guest/lib.sh:/lib.sh --timeout 1800
# Optional /exp.conf: SCHEDS (stock and mus-runner[:flags][@weight] words, see round()),
# ROUNDS, N, LONG_US.
. /lib.sh
SCHEDS="stock mus-runner"
ROUNDS=3 N=20000 LONG_US=1000
[ -f /exp.conf ] && . /exp.conf

T=/sys/kernel/tracing
mkcg target
redis_in_target

# The trace of the last run, summed up as the header says; $1 the scheduler, $2 the
# pair's pids, $3 rps, $4 p99. One awk pass prints the "tail" and "long" lines and
# a "SEG <name> <us>" line per measured interval; a second pass (after sort) turns
# those into the "seg" lines' percentiles.
summarize() {
	awk -v who="$1" -v pair="$2" -v rps="$3" -v p99="$4" -v long="$LONG_US" '
	BEGIN { n = split(pair, pp, " "); for (i = 1; i <= n; i++) inpair[pp[i]] = 1 }
	function bucket(us,   b) { b = 1; while (b * 2 <= us) b *= 2; return us < 1 ? 0 : b }
	function hist(h,   s, k, keys, m, i, j, t) {
		m = 0; for (k in h) keys[++m] = k + 0
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
			if (keys[j] < keys[i]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
		s = ""; for (i = 1; i <= m; i++) s = s (i > 1 ? "," : "") keys[i] ":" h[keys[i]]
		return s
	}
	# one field "key=value" of the line, by key
	function field(key,   i) {
		for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) return substr($i, length(key) + 2)
		return ""
	}
	# what CPU c runs, as seen by pair thread p: itself, the other thread, idle, or a comm
	function role(p, c) {
		return cur[c] == p ? "self" : (cur[c] in inpair) ? "pair" : cur[c] == 0 ? "idle" : name[cur[c]]
	}
	/^#/ { next }
	{
		cpu = -1; ts = -1; ev = ""
		for (i = 1; i <= NF; i++) {
			if (cpu < 0 && $i ~ /^\[[0-9]+\]$/) cpu = substr($i, 2, length($i) - 2) + 0
			else if (cpu >= 0 && ts < 0 && $i ~ /^[0-9]+\.[0-9]+:$/) { ts = substr($i, 1, length($i) - 1) * 1e6; ev = $(i + 1); break }
		}
		if (ts < 0) next
	}
	ev == "sched_waking:" {
		p = field("pid")
		if (p in inpair && !(p in wt)) {
			wt[p] = ts; wc[p] = cpu; seen[p] = ""; at_wake[p] = "c0=" name[cur[0]] ",c1=" name[cur[1]]
			for (c in cur) was[p, c] = role(p, c)
		}
		next
	}
	ev == "ipi_send_cpu:" {
		t = field("cpu") + 0
		for (p in wt) if (wc[p] == cpu && !((p, t) in ti)) ti[p, t] = ts
		next
	}
	ev == "reschedule_entry:" || ev == "call_function_single_entry:" {
		for (p in wt) if (((p, cpu) in ti) && !((p, cpu) in te)) te[p, cpu] = ts
		next
	}
	ev == "sched_switch:" {
		prev = field("prev_pid"); st = field("prev_state"); nxt = field("next_pid") + 0
		cur[cpu] = nxt; name[nxt] = field("next_comm")
		for (p in wt) if (length(seen[p]) < 300) seen[p] = seen[p] name[nxt] "@" cpu " "
		for (p in pt) if (length(seen[p]) < 300) seen[p] = seen[p] name[nxt] "@" cpu " "
		if (nxt == 0) {
			for (p in wt) { idlew++; if (!(p in idle_at)) idle_at[p] = ts }
			for (p in pt) { idlew++; if (!(p in idle_at)) idle_at[p] = ts }
		}
		if ((prev in wt) && !(prev in tout)) tout[prev] = ts
		if (prev in inpair && st ~ /^R/) {
			pt[prev] = ts; at_wake[prev] = "c0=" name[cur[0]] ",c1=" name[cur[1]]; seen[prev] = ""
		}
		if (!(nxt in inpair)) next
		if (nxt in idle_at) { idlews += ts - idle_at[nxt]; delete idle_at[nxt] }
		if (nxt in wt) {
			kind = "wake"; lat = ts - wt[nxt]; wakes++; wh[bucket(lat)]++
			# on the waker'"'"'s CPU or another, and what that CPU ran when the thread woke
			cls = (wc[nxt] == cpu ? "same" : "other") "_" (was[nxt, cpu] == "idle" ? "idle" : "busy")
			print "SEG class_" cls, lat
			if (cls == "other_busy") print "SEG busy_with_" was[nxt, cpu], lat
			# woken while still on its CPU: until it was off it, and from there
			if (cls == "other_busy" && was[nxt, cpu] == "self" && (nxt in tout)) {
				print "SEG self_until_off", tout[nxt] - wt[nxt]; print "SEG self_off_to_run", ts - tout[nxt]
			}
			# woken onto another, idle CPU: the waker'"'"'s part, the IPI, the target'"'"'s part
			if (cls == "other_idle" && ((nxt, cpu) in ti) && ((nxt, cpu) in te)) {
				print "SEG idle_waker", ti[nxt, cpu] - wt[nxt]; print "SEG idle_deliver", te[nxt, cpu] - ti[nxt, cpu]
				print "SEG idle_target", ts - te[nxt, cpu]; print "SEG idle_total", lat
			}
			delete wt[nxt]; delete tout[nxt]
			for (c in cur) { delete ti[nxt, c]; delete te[nxt, c] }
		} else if (nxt in pt) {
			kind = "pre"; lat = ts - pt[nxt]; pres++; ph[bucket(lat)]++; delete pt[nxt]
		} else next
		if (lat > long)
			printf "@@MUS long %s %s %d cpu=%d at_wake=%s then=%s\n", who, kind, lat, cpu, at_wake[nxt], seen[nxt]
	}
	END {
		printf "@@MUS tail %s rps=%s p99_ms=%s wakes=%d wake_us=%s pre=%d pre_us=%s idle_waits=%d idle_wait_us=%d\n",
			who, rps, p99, wakes, hist(wh), pres, hist(ph), idlew, idlews
	}' $T/trace >/tmp/trace.sum
	grep '^@@MUS' /tmp/trace.sum
	grep '^SEG' /tmp/trace.sum | sort -k2,2 -k3n | awk -v who="$1" '
	function out() { if (n) printf "@@MUS seg %s %s n=%d p50=%d p90=%d mean=%d us\n", who, k, n, v[int(n * 0.5) + 1], v[int(n * 0.9) + 1], s / n }
	$2 != k { out(); k = $2; n = 0; s = 0 }
	{ v[++n] = $3; s += $3 }
	END { out() }'
}

# One traced run under $1.
run() {
	echo 0 >$T/tracing_on
	echo >$T/trace
	echo 16384 >$T/buffer_size_kb
	echo >$T/set_event
	for e in sched:sched_switch sched:sched_waking ipi:ipi_send_cpu \
		irq_vectors:reschedule_entry irq_vectors:call_function_single_entry; do
		echo $e >>$T/set_event || echo "@@MUS no event $e"
	done
	echo 1 >$T/tracing_on
	# in the foreground, as the bench runs it: no shell polls beside the pair
	sh -c "echo \$\$ >/tmp/rb.pid && echo \$\$ > $CG/target/cgroup.procs && \
		exec redis-benchmark -p 6379 -c 4 -t get -n $N --csv" >/tmp/rb.out 2>/dev/null
	echo 0 >$T/tracing_on
	B=$(cat /tmp/rb.pid)
	line=$(tail -1 /tmp/rb.out | tr -d '"')
	summarize "$1" "$SERVER $B" "$(echo $line | cut -d, -f2)" "$(echo $line | cut -d, -f7)"
	echo "@@MUS lost $1 $(cat $T/per_cpu/cpu*/stats 2>/dev/null | awk '/^overrun/ { n += $2 } END { print n + 0 }')"
}

# $1: stock, or a runner binary with its flags after colons and, after "@", the weight
# the pair's cgroup is boosted with (default: mus-agent's; "@1024": not boosted).
round() {
	if [ $1 != stock ]; then
		w=$(echo $1 | cut -s -d@ -f2) b=${1%@*}
		start_sched /tmp/sched.log ${b%%:*} $(echo $b | cut -s -d: -f2- | tr ':' ' ')
		mus-agent boost --cgroup $CG/target ${w:+--weight $w} >/dev/null
		sleep 1
	fi
	run $1
	[ $1 = stock ] || stop_sched
}

each_round
