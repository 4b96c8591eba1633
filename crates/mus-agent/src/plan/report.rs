//! What `plan` prints: a row per busy pod, per busy top-level cgroup beside the pods
//! (system.slice, user.slice, ...) and per target, with its share of the node before
//! and after the boost; as a table or as JSON.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::tree::Tree;

/// The whole preview.
#[derive(Debug, Serialize)]
pub struct Plan {
    /// The weight proposed for the targets.
    pub weight: u32,
    /// The targets' cgroups, relative to the cgroup mount.
    pub targets: Vec<String>,
    /// CPUs the shares are of.
    pub cpus: u32,
    /// Seconds the tree was sampled for.
    pub sample_seconds: f64,
    pub rows: Vec<Row>,
    /// What the preview could not take into account, or what the reader should know.
    pub notes: Vec<String>,
}

/// One cgroup's shares, in % of the node's CPU time.
#[derive(Debug, Serialize)]
pub struct Row {
    /// `namespace/pod` where known, else the cgroup.
    pub name: String,
    pub cgroup: String,
    pub kind: Kind,
    /// One of the proposal's targets.
    pub target: bool,
    /// CPU used during the sample.
    pub now_pct: f64,
    pub before_pct: f64,
    pub after_pct: f64,
    /// after − before, in points.
    pub change_pct: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Pod,
    /// A cgroup at the top of the tree other than the pods' (system.slice, ...).
    TopLevel,
    /// A target that is neither.
    Cgroup,
}

/// The pod UID a kubelet pod cgroup is named after (systemd or cgroupfs driver), for
/// `rel` (relative to the mount) under `kubepods[.slice]`.
pub fn pod_uid(rel: &Path) -> Option<String> {
    if !under_kubepods(rel) {
        return None;
    }
    let name = rel.file_name()?.to_str()?;
    let systemd = [
        "kubepods-burstable-pod",
        "kubepods-besteffort-pod",
        "kubepods-pod",
    ]
    .iter()
    .find_map(|p| name.strip_prefix(p)?.strip_suffix(".slice"))
    .map(|uid| uid.replace('_', "-"));
    let uid = systemd.or_else(|| name.strip_prefix("pod").map(str::to_string))?;
    (!uid.is_empty()).then_some(uid)
}

/// Whether `rel` (relative to the mount) is the kubelet's pods' slice or under it,
/// for either driver.
fn under_kubepods(rel: &Path) -> bool {
    rel.starts_with("kubepods.slice") || rel.starts_with("kubepods")
}

/// The rows: targets first, then by share before, largest first. `names` maps pod
/// UIDs to `namespace/pod`.
pub fn rows(
    tree: &Tree,
    cpus: u32,
    before: &[f64],
    after: &[f64],
    targets: &[usize],
    names: &HashMap<String, String>,
) -> Vec<Row> {
    let pct = |got: f64| 100.0 * got / f64::from(cpus);
    let top_level = &tree.nodes[0].children;
    let mut rows: Vec<Row> = (1..tree.nodes.len())
        .filter_map(|i| {
            let node = &tree.nodes[i];
            let rel = node.path.strip_prefix(&tree.root).unwrap_or(&node.path);
            let uid = pod_uid(rel);
            let kind = match &uid {
                Some(_) => Kind::Pod,
                None if top_level.contains(&i) && !under_kubepods(rel) => Kind::TopLevel,
                None => Kind::Cgroup,
            };
            let target = targets.contains(&i);
            let busy = before[i] > 0.0 || after[i] > 0.0;
            if !target && (kind == Kind::Cgroup || !busy) {
                return None;
            }
            let cgroup = tree.relative(&node.path);
            Some(Row {
                name: uid
                    .and_then(|u| names.get(&u).cloned())
                    .unwrap_or_else(|| cgroup.clone()),
                cgroup,
                kind,
                target,
                now_pct: pct(node.usage),
                before_pct: pct(before[i]),
                after_pct: pct(after[i]),
                change_pct: pct(after[i] - before[i]),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        b.target
            .cmp(&a.target)
            .then(b.before_pct.total_cmp(&a.before_pct))
    });
    rows
}

impl Plan {
    pub fn print(&self, json: bool) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, self)?;
            writeln!(out)
        } else {
            self.table(&mut out)
        }
    }

    fn table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "boost to weight {} of {}: shares of the node's {} CPUs under contention (busy cgroups sampled for {} s)",
            self.weight,
            self.targets.join(", "),
            self.cpus,
            self.sample_seconds
        )?;
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            out,
            "  {:<width$}  {:>7}  {:>7}  {:>7}  {:>7}",
            "NAME", "NOW", "BEFORE", "AFTER", "CHANGE"
        )?;
        for r in &self.rows {
            let mark = if r.target { '*' } else { ' ' };
            writeln!(
                out,
                "{mark} {:<width$}  {:>6.1}%  {:>6.1}%  {:>6.1}%  {:>+7.1}",
                r.name, r.now_pct, r.before_pct, r.after_pct, r.change_pct
            )?;
        }
        for note in &self.notes {
            writeln!(out, "note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_cgroups_of_both_drivers() {
        let uid = |p: &str| pod_uid(Path::new(p));
        assert_eq!(
            uid("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e_3d.slice"),
            Some("1f2e-3d".into())
        );
        assert_eq!(
            uid("kubepods.slice/kubepods-pod0001.slice"),
            Some("0001".into())
        );
        assert_eq!(
            uid("kubepods/besteffort/pod1f2e-3d"),
            Some("1f2e-3d".into())
        );
        assert_eq!(uid("kubepods.slice/kubepods-burstable.slice"), None);
        assert_eq!(uid("system.slice/pod1.service"), None);
        assert_eq!(uid("kubepods/pod"), None);
        assert!(under_kubepods(Path::new("kubepods.slice")));
        assert!(under_kubepods(Path::new("kubepods/burstable")));
        assert!(!under_kubepods(Path::new("kubepods.slice.d")));
    }
}
