#!/bin/sh
# Summarises the output of redis_sat_ab.sh (a saved `cargo xtask vm-run` log, or its
# "@@MUS" lines) into one line per run and, per scheduler, the median p99 and how often
# its p99 was no worse than the reference's in the same round (the bench's per-repeat
# judgement against a peer). Usage:
#   evaluation/experiments/redis_sat_summary.sh LOG [REFERENCE]    # default scx_layered
# Per run: the shares of requests that took at most 0.8, 1 and 2 ms (MODE=hist only;
# redis-benchmark's buckets ending at 0.807, 1.007 and 2.007 ms), requests/s, p99, and
# per request the CPU time of the target and of the noise and (BPF_STATS=1) the time
# the scheduler's BPF programs ran, in us.
# A round is one pass over SCHEDS: it starts at each run of the first scheduler.
grep '@@MUS \(hist\|sat\) ' "$1" | awk -v ref="${2:-scx_layered}" '
function bucket(s, le,   i, n, a) {
	n = split(s, a, ";")
	for (i = 1; i <= n; i++)
		if (a[i] ~ "<= " le " ") { sub(/%.*/, "", a[i]); return a[i] }
	return "-"
}
# the numbers of the space-separated @list, sorted into @a; returns how many
function sorted(list, a,   n, i, j, t) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
		if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n
}
function median(list,   n, a) {
	n = sorted(list, a)
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$2 == "hist" { hist[$3] = $0; next }
{
	s = $3
	for (i = 4; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	# the requests (logs without n=: requests/s over the measured window, a little more)
	rps = f["rps"]; p99 = f["p99_ms"]; req = ("n" in f) ? f["n"] : rps * f["elapsed_cs"] / 100
	if (first == "") first = s
	if (s == first) round++
	printf "round %d %-18s le0.8ms=%s%% le1ms=%s%% le2ms=%s%% rps=%s p99_ms=%s", round, s,
		bucket(hist[s], "0.807"), bucket(hist[s], "1.007"), bucket(hist[s], "2.007"), rps, p99
	printf " per request: target_us=%d noise_us=%d%s\n", f["target_us"] / req, f["noise_us"] / req,
		("bpf_us" in f) ? sprintf(" bpf_us=%.1f", f["bpf_us"] / req) : ""
	delete f
	delete hist[s]
	p[round, s] = p99; all[s] = all[s] " " p99
	if (!(s in seen)) { seen[s] = 1; order[++ns] = s }
}
END {
	for (k = 1; k <= ns; k++) {
		s = order[k]; held = 0; n = 0; ratios = ""
		for (r = 1; r <= round; r++) {
			if (!((r, s) in p) || !((r, ref) in p)) continue
			n++; ratio = p[r, s] / p[r, ref]; ratios = ratios " " ratio
			if (ratio <= 1) held++
		}
		printf "%-18s p99 median %.3f ms", s, median(all[s])
		if (s != ref && n) {
			sorted(ratios, q)
			printf "; against %s: ratio median %.2f, range %.2f-%.2f,", ref,
				median(ratios), q[1], q[n]
			printf " no worse in %d of %d rounds", held, n
		}
		printf "\n"
	}
}
'
