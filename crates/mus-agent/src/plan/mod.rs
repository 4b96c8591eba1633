//! `mus-agent plan`: what a proposed boost would do to the node's busy cgroups, before
//! it is made. It reads the live cgroup tree ([`tree`]), the boosts in the map, and
//! predicts each busy cgroup's share of the node under contention before and after
//! with the share model of `mus_common::shares` ([`model`]); [`proposal`] reads what
//! is proposed, [`report`] prints it. writeups/plan.md has the model and its limits.

pub mod model;
pub mod proposal;
pub mod report;
pub mod tree;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use mus_common::Weight;

use crate::cgroup::paths::resolve_pod;
use crate::cli::{self, Global};
use crate::kube::discovery;
use crate::pod::QosClass;
use crate::pod::cgroup_uid;
use crate::targets::{self, Target};
use proposal::{BoostObject, Selects};
use report::Plan;
use tree::Tree;

/// What `plan` is asked: exactly one of `pod`, `cgroup` and `file`.
#[derive(Debug, Clone)]
pub struct Request {
    pub pod: Option<String>,
    pub cgroup: Option<PathBuf>,
    pub file: Option<PathBuf>,
    /// `--weight`, which wins over the object's.
    pub weight: Option<String>,
    pub sample_seconds: f64,
    pub json: bool,
}

/// The shortest and longest sample: shorter ones miss threads that run in bursts.
const SAMPLE_SECONDS: std::ops::RangeInclusive<f64> = 0.1..=60.0;

/// The proposal resolved: the weight and the targets' cgroup directories, and the
/// names of this node's pods by UID where Kubernetes was asked.
struct Resolved {
    weight: Weight,
    targets: Vec<PathBuf>,
    names: HashMap<String, String>,
}

pub async fn run(g: &Global, req: &Request) -> Result<()> {
    if !SAMPLE_SECONDS.contains(&req.sample_seconds) {
        bail!(
            "--sample {} is out of range: sample for {} to {} seconds",
            req.sample_seconds,
            SAMPLE_SECONDS.start(),
            SAMPLE_SECONDS.end()
        );
    }
    let resolved = resolve(g, req).await?;
    let cpus = tree::online_cpus()
        .context("cannot count this node's CPUs from /sys/devices/system/cpu/online")?;
    let (root, sample) = (
        g.cgroup_root.clone(),
        Duration::from_secs_f64(req.sample_seconds),
    );
    let tree = tokio::task::spawn_blocking(move || Tree::sample(&root, sample))
        .await
        .context("the sampling thread failed")??;
    let mut targets = Vec::new();
    for path in &resolved.targets {
        match tree.find(path) {
            Some(i) => targets.push(i),
            None => bail!(
                "cgroup {} has no cpu controller (no cpu.weight): the scheduler sees it as part of its parent; plan a boost of the parent",
                path.display()
            ),
        }
    }
    let mut notes = Vec::new();
    let boosts = match crate::boost::map_weights(&g.pin_path) {
        Ok(b) => b,
        Err(e) => {
            notes.push(format!("the map's boosts are not counted ({e:#})"));
            HashMap::new()
        }
    };
    let after_boosts = model::with_boost(&boosts, &tree, &resolved.targets, resolved.weight);
    let before = model::shares(&tree, f64::from(cpus), &boosts);
    let after = model::shares(&tree, f64::from(cpus), &after_boosts);
    if targets.iter().all(|&i| before[i] == 0.0) {
        notes.push(
            "no target is busy now: the boost changes nothing until it runs, and the shares are of what is busy now".into(),
        );
    }
    let rows = report::rows(&tree, cpus, &before, &after, &targets, &resolved.names);
    let plan = Plan {
        weight: resolved.weight.get(),
        targets: resolved.targets.iter().map(|t| tree.relative(t)).collect(),
        cpus,
        sample_seconds: req.sample_seconds,
        rows,
        notes,
    };
    plan.print(req.json)?;
    Ok(())
}

/// What the request names before it is resolved.
enum Named {
    Target(Target),
    Selector {
        namespace: String,
        selector: kube::core::Selector,
    },
}

async fn resolve(g: &Global, req: &Request) -> Result<Resolved> {
    let object = req.file.as_deref().map(BoostObject::load).transpose()?;
    let weight = match (&req.weight, object.as_ref().map(|o| o.weight)) {
        (Some(given), _) => cli::weight(Some(given))?,
        (None, Some(w)) => w,
        (None, None) => Weight::default(),
    };
    let named = match (&req.pod, &req.cgroup, object) {
        (Some(pod), _, _) => Named::Target(targets::parse(pod)?),
        (_, Some(path), _) => Named::Target(Target::Cgroup(path.clone())),
        (_, _, Some(o)) => match (o.selects, o.container) {
            (Selects::Pod(pod), None) => Named::Target(Target::Pod {
                namespace: o.namespace,
                pod,
            }),
            (Selects::Pod(pod), Some(container)) => Named::Target(Target::Container {
                namespace: o.namespace,
                pod,
                container,
            }),
            (Selects::Labels(selector), None) => Named::Selector {
                namespace: o.namespace,
                selector,
            },
            (Selects::Labels(_), Some(_)) => bail!(
                "plan previews a selector's whole pods only: for spec.container, plan one pod with --pod NAMESPACE/POD/CONTAINER"
            ),
        },
        // clap's group makes one of them required
        _ => bail!("name what to boost: --pod, --cgroup or -f"),
    };
    let discovery = match &named {
        Named::Target(target) if !target.needs_kubernetes() => {
            return Ok(Resolved {
                weight,
                targets: vec![targets::resolve_local(target, &g.cgroup_root)?.path],
                names: HashMap::new(),
            });
        }
        _ => g.discovery().await?,
    };
    let targets = match named {
        Named::Target(target) => vec![
            targets::resolve_kube(&target, &discovery, &g.resolver())
                .await?
                .path,
        ],
        Named::Selector {
            namespace,
            selector,
        } => selected_pods(g, discovery.node(), &namespace, &selector.to_string()).await?,
    };
    // Names are a bonus: without the list, rows show cgroup paths.
    let names = match discovery.list().await {
        Ok(rows) => rows
            .into_iter()
            .map(|r| (r.cgroup_uid, format!("{}/{}", r.namespace, r.pod)))
            .collect(),
        Err(_) => HashMap::new(),
    };
    Ok(Resolved {
        weight,
        targets,
        names,
    })
}

/// The pod cgroups of the pods of `namespace` on this node that `selector` selects.
async fn selected_pods(
    g: &Global,
    node: &str,
    namespace: &str,
    selector: &str,
) -> Result<Vec<PathBuf>> {
    let config = discovery::config(&g.kube_options()).await?;
    let api: Api<Pod> = Api::namespaced(discovery::client(config)?, namespace);
    let params = ListParams::default()
        .labels(selector)
        .fields(&format!("spec.nodeName={node}"));
    let pods = api
        .list(&params)
        .await
        .with_context(|| format!("cannot list the pods of namespace {namespace}"))?;
    let found: Vec<PathBuf> = pods
        .items
        .iter()
        .filter_map(|pod| {
            let uid = cgroup_uid(pod).ok()?;
            resolve_pod(&g.cgroup_root, uid, QosClass::of(pod)).ok()
        })
        .collect();
    if found.is_empty() {
        bail!(
            "the selector {selector} matches no running pod of namespace {namespace} on this node ({node})"
        );
    }
    Ok(found)
}
