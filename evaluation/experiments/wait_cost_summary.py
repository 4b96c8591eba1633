"""Summarises an A/B run of mus builds or flags in one boot (wait_cost.sh: the
histograms on and off; hotpath_cost.sh: two builds, per phase): per round, the A/B
ratio of the switch rate, of stress-ng's ns per switch, (with HB=1) of hackbench's time
and of the BPF run time per switch, all callbacks and each hot one; per condition, the
median BPF run time per call. The i-th run of A is paired with the i-th run of B (the
scripts alternate or rotate their order per round).
Usage: python3 evaluation/experiments/wait_cost_summary.py <vm-run output> [A B]
(default A=on B=off)."""
import re, sys, statistics as st

PROGS = ['mus_running', 'mus_stopping', 'mus_runnable', 'mus_quiescent', 'mus_enqueue',
         'mus_select_cpu', 'mus_dispatch', 'mus_tick']

def parse(path):
    runs, cur = [], None
    for line in open(path):
        m = re.match(r'switch = (\w+) ctxt_per_s=(\d+) ns_per_switch=([\d.]+)', line)
        if m:
            cur = {'c': m.group(1), 'rate': int(m.group(2)), 'ns': float(m.group(3))}
            runs.append(cur)
            continue
        m = re.match(r'hb = (\w+) ([\d.]+) ctxt=(\d+)', line)
        if m:
            cur['hb'] = float(m.group(2))
            continue
        m = re.match(r'progs = (\w+) (.*)', line)
        if m:
            cur['progs'] = prog_stats(m.group(2))
    return runs

def prog_stats(words):
    """{program: (run_time_ns, run_cnt)} from lib.sh's prog_stats "name=ns:calls" words
    (tlb_threads_summary.py reads them too)."""
    p = {}
    for w in words.split():
        n, v = w.split('=')
        t, c = v.split(':')
        p[n] = (int(t), int(c))
    return p

def per_switch(r, names=None):
    progs = r['progs']
    t = sum(v[0] for n, v in progs.items() if names is None or n in names)
    return t / progs['mus_running'][1]

def per_call(r, name):
    t, c = r['progs'].get(name, (0, 0))
    return t / c if c else 0.0

def row(label, ratios):
    print("%s: %s  median %.3f (%.3f-%.3f)" % (label, ' '.join('%.3f' % x for x in ratios),
          st.median(ratios), min(ratios), max(ratios)))

def main():
    runs = parse(sys.argv[1])
    a, b = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ('on', 'off')
    ra = [r for r in runs if r['c'] == a and 'progs' in r]
    rb = [r for r in runs if r['c'] == b and 'progs' in r]
    pairs = list(zip(ra, rb))
    print("rounds", len(pairs), "(%s / %s)" % (a, b))
    row("switch rate", [x['rate'] / y['rate'] for x, y in pairs])
    row("stress-ng ns/switch", [x['ns'] / y['ns'] for x, y in pairs])
    if all('hb' in x and 'hb' in y for x, y in pairs):
        row("hackbench time", [x['hb'] / y['hb'] for x, y in pairs])
    row("BPF per switch, all callbacks", [per_switch(x) / per_switch(y) for x, y in pairs])
    for p in PROGS:
        if all(p in x['progs'] and p in y['progs'] and per_call(y, p) for x, y in pairs):
            row("BPF per switch, %s" % p[4:],
                [per_switch(x, {p}) / per_switch(y, {p}) for x, y in pairs])
    for c, rs in ((a, ra), (b, rb)):
        print(c, "rates", [r['rate'] for r in rs])
        cells = ['%s=%.0f' % (p[4:], st.median([per_call(r, p) for r in rs])) for p in PROGS]
        print(c, "ns per call (median):", ' '.join(cells),
              'all_per_switch=%.0f' % st.median([per_switch(r) for r in rs]))

if __name__ == '__main__':
    main()
