//! The kernel's BPF run-time statistics (kernel.bpf_stats_enabled) as the guest prints
//! them (lib.sh's prog_stats: "name=run_time_ns:run_cnt" words), and what the cost and
//! rr benchmarks compute from two snapshots of them.

use std::collections::BTreeMap;

use anyhow::Context;

/// The callbacks whose cost the `cost` benchmark reports, matched as suffixes of the
/// struct_ops program names (`mus_enqueue`, `bpfland_enqueue`, `layered_enqueue`, ...).
pub const HOT_CALLBACKS: &[&str] = &["enqueue", "dispatch", "select_cpu", "running", "stopping"];

/// One scheduler's struct_ops programs: name -> (run_time_ns, run_cnt).
pub type ProgStats = BTreeMap<String, (f64, f64)>;

/// Parses a snapshot.
pub fn parse(text: &str) -> anyhow::Result<ProgStats> {
    text.split_whitespace()
        .map(|word| {
            let (name, v) = word
                .split_once('=')
                .with_context(|| format!("{word}: no '='"))?;
            let (t, n) = v
                .split_once(':')
                .with_context(|| format!("{name} without run_time_ns:run_cnt"))?;
            Ok((
                name.to_string(),
                (
                    t.parse().with_context(|| format!("{name}'s run time"))?,
                    n.parse().with_context(|| format!("{name}'s runs"))?,
                ),
            ))
        })
        .collect()
}

/// A program's run time and runs between two snapshots (a program that appeared in
/// between counts from zero).
fn delta(before: &ProgStats, after: &ProgStats, name: &str) -> (f64, f64) {
    let (t1, n1) = after[name];
    let (t0, n0) = before.get(name).copied().unwrap_or((0.0, 0.0));
    (t1 - t0, n1 - n0)
}

/// The run time of every program between two snapshots, in ns.
pub fn total_ns(before: &ProgStats, after: &ProgStats) -> f64 {
    after.keys().map(|name| delta(before, after, name).0).sum()
}

/// What one `cost` measurement saw: program statistics around hackbench, the context
/// switches and hackbench's time.
#[derive(Default)]
pub struct CostRun {
    pub before: ProgStats,
    pub after: ProgStats,
    pub ctxt: Option<f64>,
    pub seconds: Option<f64>,
}

impl CostRun {
    /// Its figures as (metric, value): per hot callback ns per call and calls; summed
    /// over the hot callbacks and over every struct_ops program, ns per context switch.
    pub fn figures(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let mut hot_ns = 0.0;
        for cb in HOT_CALLBACKS {
            let suffix = format!("_{cb}");
            let (t, n) = self
                .after
                .keys()
                .filter(|name| name.ends_with(&suffix))
                .map(|name| delta(&self.before, &self.after, name))
                .fold((0.0, 0.0), |a, d| (a.0 + d.0, a.1 + d.1));
            hot_ns += t;
            if n > 0.0 {
                out.push((format!("{cb}_ns"), t / n));
            }
            out.push((format!("{cb}_calls"), n));
        }
        if let Some(ctxt) = self.ctxt.filter(|c| *c > 0.0) {
            out.push(("ctxt".into(), ctxt));
            out.push(("hot_ns_per_ctxt".into(), hot_ns / ctxt));
            out.push((
                "all_ns_per_ctxt".into(),
                total_ns(&self.before, &self.after) / ctxt,
            ));
        }
        if let Some(s) = self.seconds {
            out.push(("seconds".into(), s));
        }
        out
    }
}
