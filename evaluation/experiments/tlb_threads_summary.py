"""Summarises tlb_threads.sh: per scheduler and hackbench mode (P: processes, T:
threads), the BPF time of all the scheduler's callbacks per context switch, and of its
`running` callback per call (medians over the rounds); per round, mus's per-switch time
over scx_bpfland's in each mode, and each scheduler's processes-over-threads ratio.
Usage: python3 evaluation/experiments/tlb_threads_summary.py <vm-run output>"""
import re
import statistics as st
import sys
from collections import defaultdict

from wait_cost_summary import prog_stats


def parse(path):
    """[(condition, ns per switch, running ns per call)] in the log's order."""
    runs = []
    pat = re.compile(r'tlb = (\w+) ctxt=(\d+) before: (.*) after: (.*)')
    for line in open(path):
        m = pat.match(line.strip())
        if not m:
            continue
        ctxt = int(m.group(2))
        before, after = prog_stats(m.group(3)), prog_stats(m.group(4))
        total, running = 0, None
        for name, (ns, calls) in after.items():
            ns0, calls0 = before.get(name, (0, 0))
            total += ns - ns0
            if name.endswith('_running') and calls > calls0:
                running = (ns - ns0) / (calls - calls0)
        runs.append((m.group(1), total / max(ctxt, 1), running))
    return runs


def main():
    by = defaultdict(list)
    for cond, per_switch, running in parse(sys.argv[1]):
        by[cond].append((per_switch, running))
    for cond in sorted(by):
        rows = by[cond]
        run_ns = [r for _, r in rows if r is not None]
        print(f'{cond}: {len(rows)} runs, BPF ns per switch median '
              f'{st.median(p for p, _ in rows):.0f}, running ns per call median '
              f'{st.median(run_ns) if run_ns else float("nan"):.0f}')
    pairs = [(f'mode {m}: mus/bpfland', f'mus_{m}', f'bpfland_{m}') for m in 'PT']
    pairs += [(f'{s}: processes/threads', f'{s}_P', f'{s}_T') for s in ('mus', 'bpfland')]
    for what, a, b in pairs:
        ratios = [x[0] / y[0] for x, y in zip(by.get(a, []), by.get(b, [])) if y[0]]
        if ratios:
            print(f'{what} per switch, per round: '
                  + ' '.join(f'{r:.2f}' for r in ratios)
                  + f'  median {st.median(ratios):.2f}')


if __name__ == '__main__':
    main()
