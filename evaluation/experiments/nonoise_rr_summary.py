#!/usr/bin/env python3
"""Medians per scheduler and mode of nonoise_rr.sh's "@@MUS rr" lines, as the markdown
table of evaluation/journal/nonoise.md (2026-12-05): per request the context switches of
all CPUs, IPIs (rescheduling + function call), the target cgroup's CPU time and the
struct_ops programs' time; per 10,000 requests the client's involuntary switches and
migrations and the server's voluntary switches.

    python3 evaluation/experiments/nonoise_rr_summary.py <console log>
"""
import collections
import statistics
import sys


def figure(x):
    """Whole numbers from 100 up, three significant digits below."""
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def main(path):
    runs = collections.defaultdict(list)
    for line in open(path):
        if not line.startswith("@@MUS rr "):
            continue
        f = line.split()
        kv = dict(w.split("=", 1) for w in f[4:] if "=" in w)
        n = int(kv["n"])
        srv = [int(x) for x in kv["srv"].split("/")]
        cli = [int(x) for x in kv["cli"].split("/")]
        ipi = [int(x) for x in kv.get("ipi", "0/0").split("/")]
        runs[(f[2], f[3])].append({
            "requests/s": float(kv["rps"]),
            "p99 ms": float(kv["p99_ms"]),
            "switches": int(kv["ctxt"]) / n,
            "client involuntary /10k": cli[1] / n * 1e4,
            "server voluntary /10k": srv[0] / n * 1e4,
            "client migrations /10k": cli[2] / n * 1e4,
            "IPIs": sum(ipi) / n,
            "CPU µs": int(kv["target_us"]) / n,
            "BPF µs": int(kv["bpf_ns"]) / n / 1000,
        })
    columns = list(next(iter(runs.values()))[0]) if runs else []
    print("| scheduler, mode | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for (sched, mode), rs in runs.items():
        cells = [figure(statistics.median(r[c] for r in rs)) for c in columns]
        print(f"| {sched}, {mode} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
