#!/usr/bin/env python3
"""Builds paired round by round against a reference build, and one build's BPF time per
request by callback, from nonoise_rr.sh's "@@MUS rr" lines: the paired ratios and the
split in evaluation/journal/nonoise.md ("a runner that sleeps, and a sched_ext floor").
Round r is the r-th run of each (build, mode), as in the script's own pairing.

    python3 evaluation/experiments/nonoise_rr_paired.py <console log> <reference> <build>...
"""
import re
import statistics as st
import sys
from collections import defaultdict


def runs(path):
    """(build, mode) -> per run: (requests/s, p99 ms, requests, {program: (ns, calls)})."""
    out = defaultdict(list)
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"@@MUS rr (\S+) (\S+) rps=([\d.]+) p99_ms=([\d.]+) n=(\d+)", line)
        if not m:
            continue
        progs = {}
        b = re.search(r" bpf=(\S+)", line)
        for item in (b.group(1).split(",") if b else []):
            name, value = item.split("=")
            ns, calls = value.split("/")
            progs[name] = (int(ns), int(calls))
        out[(m.group(1), m.group(2))].append(
            (float(m.group(3)), float(m.group(4)), int(m.group(5)), progs))
    return out


def main():
    path, ref, builds = sys.argv[1], sys.argv[2], sys.argv[3:]
    data = runs(path)
    modes = sorted({mode for (_, mode) in data})
    for mode in modes:
        base = data[(ref, mode)]
        for build in builds:
            pairs = list(zip(data[(build, mode)], base))
            rps = [a[0] / b[0] for a, b in pairs]
            p99 = [a[1] / b[1] for a, b in pairs]
            print(f"{mode} {build} / {ref}: requests/s {st.median(rps):.2f}x "
                  f"({sum(r > 1 for r in rps)}/{len(rps)} higher), p99 {st.median(p99):.2f}x "
                  f"({sum(r < 1 for r in p99)}/{len(p99)} lower)")
        for build in [ref] + builds:
            per = defaultdict(list)
            for _, _, n, progs in data[(build, mode)]:
                for name, (ns, calls) in progs.items():
                    per[name].append((ns / n / 1000, calls / n))
            for name in sorted(per, key=lambda k: -st.median(v[0] for v in per[k])):
                us = st.median(v[0] for v in per[name])
                calls = st.median(v[1] for v in per[name])
                if us >= 0.05:
                    print(f"  {mode} {build} {name}: {us:.2f} us/request, "
                          f"{calls:.3f} calls/request, {1000 * us / calls:.0f} ns/call")


if __name__ == "__main__":
    main()
