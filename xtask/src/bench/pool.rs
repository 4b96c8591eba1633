//! `cargo xtask bench --from-csv <a.csv> <b.csv> ...`: the rounds of several boots of
//! one commit judged together.
//!
//! Why: the A/A controls (evaluation/journal/paired.md) moved a build against itself by
//! up to 5 % in the median of one boot's 15 rounds, which is the size of the rr and
//! hackbench bounds, and the same BPF met the unconfined rr targets in some 15-round
//! boots and missed them in others. More rounds in one boot do not help against what
//! drifts with the boot; more boots do. So the rounds of N boots are pooled: each round
//! stays paired inside its own boot (its repeat number is shifted past the boots before
//! it, so that no pair crosses boots), and every target's rule is then applied to all
//! of them at once (the median of N x 15 ratios, the rounds won out of N x 15).
//!
//! Only boots of the same clean commit, the same command and the same kernel pool:
//! rounds of different code would average two schedulers into one verdict. The commit is
//! what each run recorded in its `tree` note (`tree_note()`); runs from before that note
//! cannot be pooled.

use std::fmt;

use super::dataset::Meta;
use super::results::Row;

/// The note that says which commit a run's binaries were built from.
pub const TREE_NOTE: &str = "tree";

/// Why a set of runs cannot be judged together.
#[derive(Debug, PartialEq)]
pub enum PoolError {
    /// A run recorded no commit (it predates the note).
    NoTree(String),
    /// A run was built from a tree with uncommitted changes.
    Dirty(String),
    /// Two runs differ in a fact that must be equal (what, the first's, the other's).
    Differ(&'static str, String, String),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::NoTree(d) => write!(
                f,
                "{d} records no commit (`# note: {TREE_NOTE}: ...`): it predates the note; pool only runs made since, or judge it alone with one --from-csv"
            ),
            PoolError::Dirty(d) => write!(
                f,
                "{d} was built from a tree with uncommitted changes: its code cannot be told apart from another run's; commit, run the bench again, and pool those runs"
            ),
            PoolError::Differ(what, a, b) => write!(
                f,
                "the runs differ in their {what} ({a:?} against {b:?}): only runs of one commit, command and kernel pool; give --from-csv runs that agree"
            ),
        }
    }
}

impl std::error::Error for PoolError {}

/// The `tree` note for a run built from `described`: the commit, and "-dirty" if the
/// tree had changes besides the bench's own outputs.
pub fn tree_note(described: &str) -> String {
    format!("{TREE_NOTE}: {described}")
}

fn tree_of(meta: &Meta) -> Option<&str> {
    meta.notes
        .iter()
        .find_map(|n| n.strip_prefix(TREE_NOTE)?.strip_prefix(": "))
}

/// One run as read back from its CSV: its facts and its rows.
pub type Run = (Meta, Vec<Row>);

/// `first` and the runs in `rest` as one: repeats renumbered so that each run's follow
/// the last of the run before, the facts of the first with the sum of the repeats and
/// guest time, and a note naming the pooled runs.
pub fn pool(first: Run, rest: impl IntoIterator<Item = Run>) -> Result<Run, PoolError> {
    let (first, first_rows) = first;
    let tree = checked_tree(&first)?.to_string();
    let mut meta = first.clone();
    let mut datasets = vec![first.dataset.clone()];
    let mut offset = max_repeat(&first_rows);
    let mut rows = first_rows;
    for (m, r) in rest {
        let t = checked_tree(&m)?;
        for (what, a, b) in [
            ("commit", tree.as_str(), t),
            ("command", &first.command, &m.command),
            ("kernel", &first.kernel, &m.kernel),
        ] {
            if a != b {
                return Err(PoolError::Differ(what, a.into(), b.into()));
            }
        }
        let shift = offset;
        offset += max_repeat(&r);
        rows.extend(r.into_iter().map(|mut row| {
            row.repeat += shift;
            row
        }));
        meta.repeats += m.repeats;
        meta.guest_seconds += m.guest_seconds;
        meta.date = format!("{} .. {}", first.date, m.date);
        datasets.push(m.dataset);
    }
    meta.dataset = datasets.join(", ");
    meta.notes.push(format!(
        "pooled: {} boots of {tree}, rounds numbered across them (each still paired within its own boot)",
        datasets.len()
    ));
    Ok((meta, rows))
}

fn checked_tree(meta: &Meta) -> Result<&str, PoolError> {
    let tree = tree_of(meta).ok_or_else(|| PoolError::NoTree(meta.dataset.clone()))?;
    if tree.ends_with("-dirty") {
        return Err(PoolError::Dirty(meta.dataset.clone()));
    }
    Ok(tree)
}

fn max_repeat(rows: &[Row]) -> u32 {
    rows.iter().map(|r| r.repeat).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dataset: &str, tree: Option<&str>, repeats: u32) -> Run {
        let meta = Meta {
            command: "cargo xtask bench rr --no-peers".into(),
            kernel: "7.3.4".into(),
            repeats,
            guest_seconds: 400.0,
            dataset: dataset.into(),
            notes: tree.map(tree_note).into_iter().collect(),
            ..Meta::default()
        };
        let rows = (1..=repeats)
            .flat_map(|r| {
                [
                    Row::new("rr_all", "stock_idle", r, "rps", 100.0),
                    Row::new("rr_all", "mus_boost", r, "rps", 96.0 + r as f64),
                ]
            })
            .collect();
        (meta, rows)
    }

    #[test]
    fn rounds_are_renumbered_past_the_boots_before_and_stay_paired() {
        let (meta, rows) = pool(
            run("a.csv", Some("abc123"), 2),
            [run("b.csv", Some("abc123"), 3)],
        )
        .unwrap();
        let repeats = |cond: &str| {
            rows.iter()
                .filter(|r| r.condition == cond)
                .map(|r| (r.repeat, r.value))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            repeats("mus_boost"),
            [(1, 97.0), (2, 98.0), (3, 97.0), (4, 98.0), (5, 99.0)]
        );
        assert_eq!(repeats("stock_idle").len(), 5);
        assert_eq!((meta.repeats, meta.guest_seconds), (5, 800.0));
        assert_eq!(meta.dataset, "a.csv, b.csv");
        assert!(
            meta.notes
                .iter()
                .any(|n| n.starts_with("pooled: 2 boots of abc123"))
        );
    }

    #[test]
    fn only_runs_of_one_clean_commit_pool() {
        let err = |other: Run| pool(run("a.csv", Some("abc"), 1), [other]).unwrap_err();
        assert_eq!(
            err(run("b.csv", None, 1)),
            PoolError::NoTree("b.csv".into())
        );
        assert_eq!(
            err(run("b.csv", Some("abc-dirty"), 1)),
            PoolError::Dirty("b.csv".into())
        );
        assert_eq!(
            err(run("b.csv", Some("def"), 1)),
            PoolError::Differ("commit", "abc".into(), "def".into())
        );
        let (mut m, r) = run("b.csv", Some("abc"), 1);
        m.command.push_str(" --repeats 3");
        assert!(matches!(err((m, r)), PoolError::Differ("command", ..)));
        assert_eq!(
            pool(run("a.csv", Some("abc-dirty"), 1), []).unwrap_err(),
            PoolError::Dirty("a.csv".into())
        );
        // every refusal says what to do
        let text = PoolError::Dirty("a.csv".into()).to_string();
        assert!(text.contains("commit, run the bench again"), "{text}");
    }
}
