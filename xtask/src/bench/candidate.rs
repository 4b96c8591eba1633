//! `cargo xtask bench --candidate <mus-runner>`: a second mus build in the same boot.
//!
//! A scheduler change is kept only if every target the bench holds still holds, and two
//! boots of this TCG guest on a shared host differ by more than most changes do
//! (evaluation/journal/deadline.md: a build met a target in one boot and missed it in the
//! next, with nothing to pair it with). So the guest runs the candidate as one more
//! scheduler, `cand`, in every repeat's rotation: each `mus_<variant>` condition gets a
//! `cand_<variant>` twin (bench.sh's `each_cond`), measured in the same rounds as mus,
//! stock and the peers.
//!
//! Here the rows are split into two views of one boot: mus's (the candidate's rows left
//! out) and the candidate's (mus's rows left out and the candidate's renamed to mus's
//! conditions). Every target is judged on each view, so the two verdicts face the same
//! references in the same rounds; and the candidate is paired with mus directly on the
//! figures the targets use.
//!
//! With `--twin` the candidate is mus's own binary with mus's flags (an A/A control):
//! the two differ only in their slot in each round, so the candidate's ratios to mus are
//! what this boot's noise alone does to a pair, and a target judged one way for mus and
//! the other for its twin is one this boot cannot decide at its bound.

use std::fmt::Write as _;
use std::path::Path;

use super::aggregate::{Aggregate, Spread};
use super::judge::{Check, Verdict};
use super::results::{CANDIDATE as SCHED, Row};

/// mus's.
const MUS: &str = "mus";
/// The flag that makes the candidate mus's twin, as the recorded command has it.
pub const TWIN_FLAG: &str = "--twin";

/// What the candidate was.
pub enum Which<'a> {
    /// Another build (or this one with other flags): the path `--candidate` named.
    Build(&'a str),
    /// mus's own build and flags (`--twin`).
    Twin,
}

/// Checks `--candidate`'s binary and `--candidate-args` before anything is built: the
/// flags go into the guest's script, so they may hold words of flags and values only.
pub fn check(binary: &Path, args: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        binary.is_file(),
        "--candidate {}: no such file; give a mus-runner binary built from the change (build it in a worktree with cargo build -p mus-runner and copy target/debug/mus-runner aside), or target/debug/mus-runner for this tree's own with --candidate-args",
        binary.display()
    );
    let bad: Vec<char> = args
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || " -_=.,:/".contains(*c)))
        .collect();
    anyhow::ensure!(
        bad.is_empty(),
        "--candidate-args {args:?}: {bad:?} cannot be passed into the guest's script; use only flags and values (letters, digits, and - _ = . , : /)"
    );
    Ok(())
}

/// The scheduler a row belongs to: its condition's prefix, or the whole condition for
/// the health rows ("mus", "cand"); the share benchmark's rows ("w4096", mus-only) are
/// mus's, and its candidate rows "cand_w4096".
fn sched_of(row: &Row) -> &str {
    let prefix = row.condition.split('_').next().unwrap_or("");
    if row.bench == "share" && prefix != SCHED {
        MUS
    } else {
        prefix
    }
}

/// Whether a run had a candidate.
pub fn present(rows: &[Row]) -> bool {
    rows.iter().any(|r| sched_of(r) == SCHED)
}

/// mus's view: every row but the candidate's.
pub fn mus_view(rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .filter(|r| sched_of(r) != SCHED)
        .cloned()
        .collect()
}

/// The candidate's view: mus's rows left out, the candidate's under mus's conditions.
pub fn candidate_view(rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .filter(|r| sched_of(r) != MUS)
        .map(|r| {
            let mut r = r.clone();
            if let Some(rest) = r.condition.strip_prefix(SCHED) {
                r.condition = if r.bench == "share" {
                    rest.trim_start_matches('_').to_string()
                } else {
                    format!("{MUS}{rest}")
                };
            }
            r
        })
        .collect()
}

/// Which way a figure is better.
#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
    /// Neither: a CPU share is what the weights give, and more of it is a boost
    /// overshooting as often as a win; the table counts the rounds it was higher.
    Neither,
}

/// The figures the candidate is paired with mus on.
const HEAD_TO_HEAD: &[(&str, Better)] = &[
    ("p99_us", Better::Lower),
    ("p999_us", Better::Lower),
    ("p99_ms", Better::Lower),
    ("p999_ms", Better::Lower),
    ("rps", Better::Higher),
    ("seconds", Better::Lower),
    ("target_cpu_pct", Better::Neither),
    ("noise_cpu_pct", Better::Neither),
    ("all_ns_per_ctxt", Better::Lower),
    ("running_ns", Better::Lower),
];

/// Appends the candidate's section to a summary: each target's verdict for mus and for
/// the candidate side by side, then the candidate against mus round by round.
pub fn section(md: &mut String, which: Which, mus: &[Check], cand: &[Check], all: &Aggregate) {
    let rotation = "It ran as one more scheduler in every repeat's rotation; each target below is judged twice on the same references and rounds, once with mus's figures and once with the candidate's.";
    let _ = match which {
        Which::Build(binary) => writeln!(
            md,
            "## The candidate build against mus, in this boot\n\nCandidate: {binary}. {rotation}\n"
        ),
        Which::Twin => writeln!(
            md,
            "## A/A control: mus against its own build, in this boot\n\n\
             Candidate: mus's own binary and flags (`{TWIN_FLAG}`). {rotation} Nothing differs but the slot in each round, so the ratios below are this boot's noise, and a target judged differently for the two is one this boot cannot decide at its bound.\n"
        ),
    };
    let _ = writeln!(
        md,
        "| target | mus | candidate | candidate's figure |\n| --- | --- | --- | --- |"
    );
    let (mut lost, mut gained) = (0, 0);
    for m in mus {
        let Some(c) = cand.iter().find(|c| c.target == m.target) else {
            continue;
        };
        match (m.verdict, c.verdict) {
            (Verdict::Met, Verdict::Missed) => lost += 1,
            (Verdict::Missed, Verdict::Met) => gained += 1,
            _ => {}
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            m.target,
            m.verdict.markdown(),
            c.verdict.markdown(),
            // the figure was written for mus, whose place the candidate took
            c.figure.replace("mus wins", "candidate wins")
        );
    }
    let _ = match which {
        Which::Build(_) => writeln!(
            md,
            "\nThe candidate loses {lost} target(s) mus met and meets {gained} mus missed.\n"
        ),
        Which::Twin => writeln!(
            md,
            "\nmus and its twin are judged differently on {} target(s): this boot cannot decide those.\n",
            lost + gained
        ),
    };
    head_to_head(md, all);
}

/// Per condition and figure, the candidate over mus in each round: the median ratio and
/// the rounds the candidate did better.
fn head_to_head(md: &mut String, all: &Aggregate) {
    let _ = writeln!(
        md,
        "| benchmark | condition | figure | candidate / mus, median | rounds the candidate was better (CPU shares: higher) |\n| --- | --- | --- | --- | --- |"
    );
    for (bench, cond) in all.conditions_of(SCHED) {
        // conditions_of gives only "cand_<variant>"
        let variant = cond.strip_prefix(SCHED).unwrap_or(&cond);
        let mus_cond = format!("{MUS}{variant}");
        for (metric, better) in HEAD_TO_HEAD {
            let rounds = all.paired((&bench, &cond, metric), &[(&bench, &mus_cond, metric)]);
            let ratios: Vec<f64> = rounds
                .iter()
                .filter(|(_, _, m)| *m > 0.0)
                .map(|(_, c, m)| c / m)
                .collect();
            let Some(spread) = Spread::of(&ratios) else {
                continue;
            };
            let wins = ratios
                .iter()
                .filter(|r| match better {
                    Better::Lower => **r < 1.0,
                    Better::Higher | Better::Neither => **r > 1.0,
                })
                .count();
            let _ = writeln!(
                md,
                "| {bench} | {} | {metric} | {:.2}x ({:.2}–{:.2}) | {}{wins}/{} |",
                variant.trim_start_matches('_'),
                spread.median,
                spread.min,
                spread.max,
                if matches!(better, Better::Neither) {
                    "higher "
                } else {
                    ""
                },
                ratios.len()
            );
        }
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::results::row;

    fn rows() -> Vec<Row> {
        vec![
            row("latency", "stock_noise", 1, "p99_us", 900.0),
            row("latency", "mus_boost", 1, "p99_us", 300.0),
            row("latency", "cand_boost", 1, "p99_us", 200.0),
            row("health", "mus", 1, "ejected", 0.0),
            row("health", "cand", 1, "ejected", 1.0),
            row("share", "w4096", 1, "share_pct", 80.0),
            row("share", "cand_w4096", 1, "share_pct", 79.0),
            row("redis_sat", "mus_boost", 1, "target_cpu_pct", 160.0),
            row("redis_sat", "cand_boost", 1, "target_cpu_pct", 170.0),
        ]
    }

    fn find<'a>(rows: &'a [Row], bench: &str, cond: &str) -> Option<&'a Row> {
        rows.iter()
            .find(|r| r.bench == bench && r.condition == cond)
    }

    #[test]
    fn mus_view_leaves_the_candidate_out() {
        let v = mus_view(&rows());
        assert_eq!(v.len(), 5);
        assert!(present(&rows()) && !present(&v));
        assert_eq!(find(&v, "latency", "mus_boost").unwrap().value, 300.0);
        assert_eq!(find(&v, "share", "w4096").unwrap().value, 80.0);
    }

    #[test]
    fn candidate_view_puts_the_candidate_in_mus_place() {
        let v = candidate_view(&rows());
        assert_eq!(v.len(), 5);
        assert_eq!(find(&v, "latency", "stock_noise").unwrap().value, 900.0);
        assert_eq!(find(&v, "latency", "mus_boost").unwrap().value, 200.0);
        assert_eq!(find(&v, "health", "mus").unwrap().value, 1.0);
        assert_eq!(find(&v, "share", "w4096").unwrap().value, 79.0);
        assert!(!present(&v));
    }

    #[test]
    fn candidate_args_are_flags_only() {
        let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        check(&runner, "--no-wait-histograms --sync-grace-us=0").unwrap();
        let e = check(&runner, "--slice-us 1; reboot").unwrap_err();
        assert!(e.to_string().contains("[';']"), "{e}");
        let e = check(Path::new("/nonexistent/mus-runner"), "").unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
    }

    #[test]
    fn a_twin_section_names_the_targets_the_boot_cannot_decide() {
        let check = |target: &str, verdict| Check {
            area: crate::bench::judge::Area::Boost,
            rule: crate::bench::judge::Rule::Paired,
            target: target.to_string(),
            figure: "median 0.90x, mus wins 2/5".to_string(),
            verdict,
        };
        let mus = [check("a", Verdict::Met), check("b", Verdict::Met)];
        let twin = [check("a", Verdict::Missed), check("b", Verdict::Met)];
        let mut md = String::new();
        section(
            &mut md,
            Which::Twin,
            &mus,
            &twin,
            &Aggregate::from_rows(&rows()),
        );
        assert!(
            md.contains("## A/A control: mus against its own build"),
            "{md}"
        );
        assert!(
            md.contains("| a | met | **missed** | median 0.90x, candidate wins 2/5 |"),
            "{md}"
        );
        assert!(md.contains("judged differently on 1 target(s)"), "{md}");
        assert!(!md.contains("The candidate loses"), "{md}");
    }

    #[test]
    fn the_section_pairs_the_candidate_with_mus() {
        let all = Aggregate::from_rows(&rows());
        let mut md = String::new();
        section(&mut md, Which::Build("/tmp/mus-runner-x"), &[], &[], &all);
        assert!(md.contains("Candidate: /tmp/mus-runner-x."), "{md}");
        assert!(
            md.contains("| latency | boost | p99_us | 0.67x (0.67–0.67) | 1/1 |"),
            "{md}"
        );
        // a CPU share is neither better nor worse for being higher
        assert!(
            md.contains("| redis_sat | boost | target_cpu_pct | 1.06x (1.06–1.06) | higher 1/1 |"),
            "{md}"
        );
    }
}
