"""Summarises a run of wait_cost.sh: per round, the on/off ratio of the switch rate,
of stress-ng's ns per switch and (with HB=1) of hackbench's time; per condition, the
median BPF run time per call of the hot callbacks and of all of them per switch.
Usage: python3 evaluation/experiments/wait_cost_summary.py <the vm-run output>"""
import re,sys,statistics as st
runs=[]
cur=None
for line in open(sys.argv[1]):
    m=re.match(r'switch = (\w+) ctxt_per_s=(\d+) ns_per_switch=([\d.]+)',line)
    if m:
        cur={'c':m.group(1),'rate':int(m.group(2)),'ns':float(m.group(3))}; runs.append(cur); continue
    m=re.match(r'hb = (\w+) ([\d.]+) ctxt=(\d+)',line)
    if m: cur['hb']=float(m.group(2)); continue
    m=re.match(r'progs = (\w+) (.*)',line)
    if m:
        p={}
        for w in m.group(2).split():
            n,v=w.split('=');t,c=v.split(':');p[n]=(int(t),int(c))
        cur['progs']=p
pairs=[(runs[i],runs[i+1]) for i in range(0,len(runs),2)]
rr=[];nr=[];hr=[]
for a,b in pairs:
    on,off=(a,b) if a['c']=='on' else (b,a)
    rr.append(on['rate']/off['rate']); nr.append(on['ns']/off['ns'])
    if 'hb' in on and 'hb' in off: hr.append(on['hb']/off['hb'])
print("rounds",len(pairs))
print("switch rate on/off per round:",' '.join('%.3f'%x for x in rr),"median %.3f"%st.median(rr), "geomean %.3f"%st.geometric_mean(rr))
print("stress-ng ns/switch on/off:",' '.join('%.3f'%x for x in nr),"median %.3f"%st.median(nr))
if hr: print("hackbench time on/off:",' '.join('%.3f'%x for x in hr),"median %.3f"%st.median(hr))
for c in ('on','off'):
    rs=[r for r in runs if r['c']==c]
    print(c,"rates",[r['rate'] for r in rs],"median",st.median([r['rate'] for r in rs]))
# per call
progs=['mus_running','mus_stopping','mus_runnable','mus_quiescent','mus_enqueue','mus_select_cpu','mus_dispatch']
for c in ('on','off'):
    rs=[r for r in runs if r['c']==c]
    row=[]
    for p in progs:
        row.append(st.median([r['progs'][p][0]/r['progs'][p][1] for r in rs]))
    tot=st.median([sum(t for t,_ in r['progs'].values())/r['progs']['mus_running'][1] for r in rs])
    print(c,' '.join('%s=%.0f'%(p[4:],v) for p,v in zip(progs,row)),'all_per_switch=%.0f'%tot)
# paired per round: BPF time per switch of all callbacks, and of ops.running alone
def per_switch(r, names=None):
    progs = r['progs']
    t = sum(v[0] for n, v in progs.items() if names is None or n in names)
    return t / progs['mus_running'][1]
for label, names in (("all callbacks", None), ("running", {'mus_running'}), ("stopping", {'mus_stopping'})):
    ratios = []
    for a, b in pairs:
        on, off = (a, b) if a['c'] == 'on' else (b, a)
        ratios.append(per_switch(on, names) / per_switch(off, names))
    print("BPF time per switch on/off, %s:" % label, ' '.join('%.3f' % x for x in ratios),
          "median %.3f" % st.median(ratios))
