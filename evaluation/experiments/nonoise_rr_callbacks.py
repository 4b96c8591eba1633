#!/usr/bin/env python3
"""Two mus builds' callbacks, paired round by round, from nonoise_rr.sh's "@@MUS rr"
lines (bpf_stats on): per mode and callback, each build's median time per call and the
median, range and count of rounds of the per-round ratio B/A; then the same for the
programs' time per request. Round r is the r-th run of each (build, mode), as in the
script's own pairing. The tables of evaluation/journal/nonoise.md ("Order matters").

    python3 evaluation/experiments/nonoise_rr_callbacks.py <console log> <build A> <build B>
"""
import statistics
import sys

CALLBACKS = ["enqueue", "running", "dispatch", "stopping", "runnable", "quiescent"]


def runs(path):
    """(build, mode) -> per run: ({program: (ns, calls)}, programs' ns, requests)."""
    out = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        if not line.startswith("@@MUS rr "):
            continue
        words = line.split()
        kv = dict(w.split("=", 1) for w in words[4:] if "=" in w)
        progs = {}
        for item in kv.get("bpf", "").split(","):
            if "=" in item:
                name, value = item.split("=")
                ns, calls = map(int, value.split("/"))
                if calls:
                    progs[name] = (ns, calls)
        out.setdefault((words[2], words[3]), []).append(
            (progs, int(kv.get("bpf_ns") or 0), int(kv["n"])))
    return out


def line(label, a, b):
    """One row: medians of a and b, and the per-round ratios b/a."""
    ratios = [y / x for x, y in zip(a, b) if x]
    if not ratios:
        return f"| {label} | – | – | – | – |"
    return (f"| {label} | {statistics.median(a):.0f} | {statistics.median(b):.0f} | "
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
            f"{sum(r < 1 for r in ratios)}/{len(ratios)} |")


def main(path, build_a, build_b):
    data = runs(path)
    for mode in sorted({m for _, m in data}):
        a, b = data.get((build_a, mode), []), data.get((build_b, mode), [])
        n = min(len(a), len(b))
        if not n:
            continue
        print(f"\n{mode}, {n} rounds: {build_b} against {build_a}\n")
        print(f"| callback | {build_a} ns/call | {build_b} ns/call | B/A | B cheaper |")
        print("| --- | --- | --- | --- | --- |")
        for cb in CALLBACKS:
            name = "mus_" + cb
            pairs = [(x[0][name], y[0][name]) for x, y in zip(a[:n], b[:n])
                     if name in x[0] and name in y[0]]
            print(line(cb, [x[0] / x[1] for x, _ in pairs], [y[0] / y[1] for _, y in pairs]))
        print(line("BPF ns per request", [x[1] / x[2] for x in a[:n]],
                   [y[1] / y[2] for y in b[:n]]))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
