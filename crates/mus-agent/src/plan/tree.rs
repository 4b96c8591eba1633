//! The node's cgroup tree as `plan` sees it: every cgroup the cpu controller reaches,
//! with its `cpu.weight`, `cpu.idle` and `cpu.max`, and how busy it is now (CPU used
//! over the sample, threads runnable).
//!
//! A cgroup's children count as separate competitors only when they have the cpu
//! controller (a `cpu.weight` file: the parent's `cgroup.subtree_control` has `cpu`);
//! below that, the kernel and mus schedule the whole subtree as one cgroup, so its
//! threads are counted with it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroup::cpu::usage_usec;
use crate::cgroup::index::inode;

/// `cpu.weight` where the file is missing (the root): the kernel's default.
const DEFAULT_WEIGHT: u32 = 100;

/// How many times runnable threads are counted over the sample.
const RUNNABLE_SAMPLES: u32 = 10;

/// One cgroup of the tree; `children` are indices into [`Tree::nodes`].
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub path: PathBuf,
    /// The cgroup ID (the directory's inode), to find its map entry.
    pub id: Option<u64>,
    pub weight: u32,
    pub idle: bool,
    /// `cpu.max` in CPUs; `None` for `max`.
    pub limit: Option<f64>,
    pub children: Vec<usize>,
    /// CPUs used over the sample.
    pub usage: f64,
    /// Runnable threads of a leaf (with its descendants without the cpu controller):
    /// the median of the counts taken over the sample.
    pub runnable: u32,
}

impl Node {
    fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// The tree under a cgroup mount, the root at index 0, parents before children.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    pub root: PathBuf,
    pub nodes: Vec<Node>,
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot read the cgroup tree at {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Tree {
    /// Reads the tree under `root` and samples it for `sample`: CPU used from
    /// `cpu.stat` at both ends, runnable threads counted `RUNNABLE_SAMPLES` times.
    pub fn sample(root: &Path, sample: Duration) -> Result<Tree, TreeError> {
        fs::read_dir(root).map_err(|source| TreeError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        let mut tree = Tree {
            root: root.to_path_buf(),
            nodes: Vec::new(),
        };
        tree.add(root);
        // Each end's reads are timed at their middle: on a large tree they take a while.
        let read_usage = |tree: &Tree| {
            let before = Instant::now();
            let usage: Vec<Option<u64>> = tree.nodes.iter().map(|n| usage_usec(&n.path)).collect();
            (usage, before + before.elapsed() / 2)
        };
        let (start, began) = read_usage(&tree);
        let leaves: Vec<usize> = (1..tree.nodes.len())
            .filter(|&i| tree.nodes[i].is_leaf())
            .collect();
        let mut counts: Vec<Vec<u32>> = vec![Vec::new(); tree.nodes.len()];
        for _ in 0..RUNNABLE_SAMPLES {
            std::thread::sleep(sample / RUNNABLE_SAMPLES);
            for &i in &leaves {
                counts[i].push(runnable_threads(&tree.nodes[i].path));
            }
        }
        let (end, ended) = read_usage(&tree);
        let elapsed = ended.duration_since(began).as_micros().max(1) as f64;
        for (i, node) in tree.nodes.iter_mut().enumerate() {
            if let (Some(before), Some(after)) = (start[i], end[i]) {
                node.usage = after.saturating_sub(before) as f64 / elapsed;
            }
            node.runnable = median(&mut counts[i]);
        }
        Ok(tree)
    }

    /// Adds `dir` and its descendants that have the cpu controller; returns its index.
    fn add(&mut self, dir: &Path) -> usize {
        let index = self.nodes.len();
        let read = |file: &str| fs::read_to_string(dir.join(file)).ok();
        self.nodes.push(Node {
            path: dir.to_path_buf(),
            id: inode(dir),
            weight: read("cpu.weight")
                .and_then(|w| w.trim().parse().ok())
                .unwrap_or(DEFAULT_WEIGHT),
            idle: read("cpu.idle").is_some_and(|v| v.trim() == "1"),
            limit: read("cpu.max").and_then(|m| parse_max(&m)),
            children: Vec::new(),
            usage: 0.0,
            runnable: 0,
        });
        for child in subdirs(dir) {
            if child.join("cpu.weight").is_file() {
                let c = self.add(&child);
                self.nodes[index].children.push(c);
            }
        }
        index
    }

    /// The node at `path`, if the tree has it.
    pub fn find(&self, path: &Path) -> Option<usize> {
        self.nodes.iter().position(|n| n.path == path)
    }

    /// `path` relative to the root, as `/proc/PID/cgroup` spells it.
    pub fn relative(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        format!("/{}", rel.display())
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// `cpu.max` ("QUOTA PERIOD" in microseconds, or "max PERIOD") in CPUs.
fn parse_max(text: &str) -> Option<f64> {
    let mut words = text.split_whitespace();
    let quota: f64 = words.next()?.parse().ok()?;
    let period: f64 = words.next()?.parse().ok()?;
    (period > 0.0).then(|| quota / period)
}

/// Threads of the cgroup at `dir` and of its descendants without the cpu controller
/// that are runnable (state R: running or waiting for a CPU, throttled ones too).
/// Only threads of this PID namespace are listed in `cgroup.threads`: in a container
/// without the host's PIDs there are none, and demand falls back on CPU used.
fn runnable_threads(dir: &Path) -> u32 {
    let own: u32 = fs::read_to_string(dir.join("cgroup.threads"))
        .unwrap_or_default()
        .lines()
        .filter(|tid| is_runnable(tid.trim()))
        .count() as u32;
    let below: u32 = subdirs(dir)
        .iter()
        .filter(|d| !d.join("cpu.weight").is_file())
        .map(|d| runnable_threads(d))
        .sum();
    own + below
}

fn is_runnable(tid: &str) -> bool {
    if tid.is_empty() || !tid.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    // The state is the first field after the command name, which may hold spaces
    // and parentheses: it follows the last ')'.
    fs::read_to_string(format!("/proc/{tid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('R'))
    })
}

/// The median count (the lower of the two middle ones), 0 for none: a count seen in
/// at least half the samples, so a thread that runs a moment is not demand.
fn median(counts: &mut [u32]) -> u32 {
    counts.sort_unstable();
    counts
        .get(counts.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

/// CPUs online on this node (`/sys/devices/system/cpu/online`, e.g. `0-3,6`).
pub fn online_cpus() -> Option<u32> {
    let text = fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    count_cpu_list(&text)
}

fn count_cpu_list(text: &str) -> Option<u32> {
    text.trim().split(',').try_fold(0u32, |sum, range| {
        let (lo, hi) = match range.split_once('-') {
            Some((lo, hi)) => (lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?),
            None => {
                let cpu = range.parse::<u32>().ok()?;
                (cpu, cpu)
            }
        };
        Some(sum + hi.checked_sub(lo)? + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_limits() {
        assert_eq!(count_cpu_list("0-3\n"), Some(4));
        assert_eq!(count_cpu_list("0,2-5,7"), Some(6));
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(parse_max("50000 100000\n"), Some(0.5));
        assert_eq!(parse_max("max 100000"), None);
        assert_eq!(median(&mut [3, 0, 2, 2, 9]), 2);
        assert_eq!(median(&mut [0, 1]), 0);
        assert_eq!(median(&mut []), 0);
    }

    #[test]
    fn children_without_the_cpu_controller_belong_to_their_parent() {
        let root = tempfile::tempdir().expect("tempdir");
        let mk = |rel: &str, files: &[(&str, &str)]| {
            let d = root.path().join(rel);
            fs::create_dir_all(&d).expect("mkdir");
            for (f, text) in files {
                fs::write(d.join(f), text).expect("write");
            }
        };
        mk(
            "a",
            &[("cpu.weight", "200\n"), ("cpu.max", "25000 100000\n")],
        );
        mk("a/x", &[("cpu.weight", "10\n"), ("cpu.idle", "1\n")]);
        mk("a/plain", &[]);
        mk("b", &[("cpu.weight", "100\n"), ("cpu.max", "max 100000\n")]);
        let tree = Tree::sample(root.path(), Duration::from_millis(10)).expect("tree");
        let names: Vec<String> = tree.nodes.iter().map(|n| tree.relative(&n.path)).collect();
        assert_eq!(names, ["/", "/a", "/a/x", "/b"]);
        let a = &tree.nodes[1];
        assert_eq!((a.weight, a.limit, a.idle), (200, Some(0.25), false));
        assert_eq!(a.children, [2]);
        assert!(tree.nodes[2].idle);
        assert_eq!(tree.nodes[3].limit, None);
        assert_eq!(tree.nodes[0].weight, DEFAULT_WEIGHT);
        assert_eq!(tree.find(&root.path().join("b")), Some(3));
        let err = Tree::sample(&root.path().join("gone"), Duration::ZERO).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the cgroup tree at")
        );
    }
}
