//! The subcommands: each one is a few calls into the modules, with the context
//! that turns a module error into one sentence for the operator.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use mus_common::cgroup::find_cgroup;
use mus_common::{CgroupId, PrioFlags};
use serde::Serialize;

use crate::boost::{self, open_map, require_privilege};
use crate::cgroup::index::{self, Boost, Owner, row_cgroups};
use crate::cli::{self, Global};
use crate::kube::discovery;
use crate::pod::ContainerRow;
use crate::targets::{self, Resolved, Target};

/// Resolves any target; Kubernetes is contacted only for pod/container targets.
pub async fn resolve_target(g: &Global, target: &Target) -> Result<Resolved> {
    if !target.needs_kubernetes() {
        return Ok(targets::resolve_local(target, &g.cgroup_root)?);
    }
    let discovery = g.discovery().await?;
    Ok(targets::resolve_kube(target, &discovery, &g.resolver()).await?)
}

/// A usage error found after parsing (exit status 2, like clap's own).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub async fn boost(g: &Global, target: &Target, weight: Option<&str>, force: bool) -> Result<()> {
    let weight = cli::weight(weight)?;
    // The target first: what is wrong with it is the error to show, not a missing
    // runner or capability that only matter once it is right.
    let resolved = resolve_target(g, target).await?;
    if !force {
        targets::refuse_node_wide(&resolved, &g.cgroup_root)?;
    }
    if let Some(note) = &resolved.note {
        eprintln!("note: {note}");
    }
    require_privilege()?;
    let map = open_map(&g.pin_path)?;
    let id = boost::boost(&map, &resolved.path, weight, force)?;
    println!(
        "boosted {target} at weight {weight}: cgroup {} (ID {id}, found through {})",
        resolved.path.display(),
        resolved.via
    );
    Ok(())
}

pub async fn unboost(
    g: &Global,
    target: Option<&Target>,
    id: Option<u64>,
    force: bool,
) -> Result<()> {
    /// What names the entry: a target to resolve, or a raw ID.
    enum Named {
        Target(Resolved),
        Id(CgroupId),
    }
    let named = match (target, id) {
        (_, Some(id)) => Named::Id(CgroupId(id)),
        (Some(target), None) => Named::Target(resolve_target(g, target).await?),
        (None, None) => anyhow::bail!("name a target to unboost"),
    };
    require_privilege()?;
    let map = open_map(&g.pin_path)?;
    let (what, id, removed) = match named {
        Named::Target(resolved) => {
            let (id, removed) = boost::unboost(&map, &resolved.path, force)?;
            (resolved.target.to_string(), id, removed)
        }
        Named::Id(id) => (
            format!("cgroup ID {id}"),
            id,
            boost::unboost_id(&map, id, force)?,
        ),
    };
    // Not boosted is not a failure: scripts can unboost unconditionally.
    if removed {
        println!("unboosted {what} (ID {id})");
    } else {
        println!("{what} (ID {id}) was not boosted; nothing to do");
    }
    Ok(())
}

/// One line of `list`.
#[derive(Serialize)]
struct ListItem<'a> {
    #[serde(flatten)]
    row: &'a ContainerRow,
    cgroup: Option<PathBuf>,
    boost: Option<Boost>,
}

pub async fn list(g: &Global, json: bool) -> Result<()> {
    let rows = g.discovery().await?.list().await?;
    // Markers are a bonus here: listing works for a non-root user or without a runner.
    let weights = match boost::map_weights(&g.pin_path) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("note: boosts not shown: {e:#}");
            HashMap::new()
        }
    };
    let items: Vec<ListItem> = rows
        .iter()
        .map(|row| {
            let cgroups = row_cgroups(row, &g.cgroup_root);
            ListItem {
                row,
                boost: cgroups.boost(&weights),
                cgroup: cgroups.container.or(cgroups.pod),
            }
        })
        .collect();
    print_items(&items, json, |out, items| {
        writeln!(
            out,
            "{:<20} {:<36} {:<20} {:<10} {:<10} {:<22} BOOST",
            "NAMESPACE", "POD", "CONTAINER", "PHASE", "QOS", "STATE"
        )?;
        for item in items {
            let r = item.row;
            let boost = match item.boost {
                Some(b) => format!("{} ({:?})", b.weight, b.scope).to_lowercase(),
                None => "-".into(),
            };
            let qos = r.qos.map(|q| q.to_string()).unwrap_or_else(|| "?".into());
            writeln!(
                out,
                "{:<20} {:<36} {:<20} {:<10} {:<10} {:<22} {boost}",
                r.namespace,
                r.pod,
                r.container,
                r.phase,
                qos,
                r.state.to_string()
            )?;
        }
        Ok(())
    })
}

/// Prints `items` as pretty JSON when `json`, else as the table `table` writes.
fn print_items<T: Serialize>(
    items: &[T],
    json: bool,
    table: impl FnOnce(&mut dyn Write, &[T]) -> std::io::Result<()>,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, items)?;
        writeln!(out)?;
    } else {
        table(&mut out, items)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct StatusItem {
    cgroup_id: u64,
    weight: u32,
    owner: Owner,
    /// Written by `mus-agent watch`, which removes it when no pod is granted it.
    watch: bool,
    /// Who wrote it: `mus-agent boost`, `mus-agent watch (owner id …)`, another tool.
    writer: String,
}

pub async fn status(g: &Global, json: bool) -> Result<()> {
    require_privilege()?;
    let map = open_map(&g.pin_path)?;
    let entries = map.entries()?;
    // Without the API server, entries are still shown by cgroup path.
    let rows = match g.discovery().await {
        Ok(d) => d.list().await,
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| {
        eprintln!("note: pods not listed ({e}); entries shown by cgroup path");
        Vec::new()
    });
    let owners = index::owners(&rows, &g.cgroup_root);
    let explained = index::explain(&entries, &owners, |id| {
        find_cgroup(&g.cgroup_root, CgroupId(id))
    });
    let items: Vec<StatusItem> = explained
        .into_iter()
        .map(|(e, owner)| StatusItem {
            cgroup_id: e.cgroup.0,
            weight: e.weight,
            owner,
            watch: e.has(PrioFlags::WATCH),
            writer: e.writer(),
        })
        .collect();
    print_items(&items, json, |out, items| {
        writeln!(
            out,
            "{} of {} entries used in {}",
            items.len(),
            map.capacity(),
            map.path().display()
        )?;
        for item in items {
            let by = if item.watch { " (watch)" } else { "" };
            writeln!(
                out,
                "{:>12}  weight {:<6} {}{by}",
                item.cgroup_id, item.weight, item.owner
            )?;
        }
        if items.iter().any(|i| i.owner == Owner::Stale) {
            writeln!(out, "remove stale entries with `mus-agent unboost --id ID`")?;
        }
        Ok(())
    })
}

/// `mus-agent watch`: the node daemon, until SIGTERM or SIGINT.
pub async fn watch(g: &Global, args: &cli::WatchArgs) -> Result<()> {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::daemon::metrics::Metrics;
    use crate::daemon::options::WatchOptions;

    require_privilege()?;
    // Elsewhere the daemon would write directory inode numbers that are not cgroup
    // IDs (and on a hybrid host may be other cgroups' IDs).
    crate::cgroup::paths::require_cgroup2(&g.cgroup_root)?;
    let config = discovery::config(&g.kube_options()).await?;
    let node = discovery::node_name(g.node.as_deref())?;
    let client = discovery::client(config)?;
    let mut opts = WatchOptions::new(node, g.pin_path.clone(), g.cgroup_root.clone());
    // A bad policy stops the daemon at start, with the file and field named.
    if let Some(path) = &args.policy {
        opts.policy = crate::daemon::grant::policy::Policy::load(path)?;
        for warning in opts.policy.unprotected_selectors() {
            tracing::warn!("the boost policy {}: {warning}", path.display());
        }
    }
    // A dry run writes nothing, so it may run beside the daemon it previews.
    let _lock = if args.dry_run {
        None
    } else {
        Some(crate::daemon::instance_lock::lock(&g.pin_path)?)
    };
    opts.own_all = args.own_all;
    opts.dry_run = args.dry_run;
    opts.resync_interval = Duration::from_secs(args.resync_interval);
    opts.auto_interval = Duration::from_secs(args.auto_interval);
    opts.events = !args.no_events;
    opts.fallback = !args.no_fallback;
    let stats_pin = mus_common::stats_pin_path(&opts.pin_path);
    let metrics = Arc::new(Metrics::new(opts.stale_after(), Some(stats_pin)));
    let addr = args.listen();
    let (bound, server) =
        crate::daemon::http::serve(addr, Arc::clone(&metrics), args.http_limits())
            .await
            .with_context(|| {
                format!("cannot listen on {addr}: pass a free address and port with --listen")
            })?;
    let _server = AbortOnDrop(server);
    tracing::info!("serving http://{bound}/metrics, /healthz (liveness) and /readyz (readiness)");
    tracing::info!(
        node = %opts.node,
        dry_run = opts.dry_run,
        own_all = opts.own_all,
        owner_id = %opts.owner(),
        policy = ?opts.policy,
        "watching this node's pods"
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot handle SIGTERM")?;
    // Entries stay in the map on exit: boosts survive an agent restart or upgrade.
    tokio::select! {
        ended = crate::daemon::watch::run(client, opts, metrics) => ended?,
        _ = term.recv() => tracing::info!("SIGTERM: stopping; the map keeps its entries"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping; the map keeps its entries"),
    }
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The whole program after argument parsing.
pub async fn run(cli: cli::Cli) -> Result<()> {
    let g = &cli.global;
    match &cli.command {
        None => {
            use std::io::IsTerminal;
            // Checked before anything touches the terminal: without one, ratatui
            // would fail halfway and leave escape sequences behind.
            if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
                return Err(UsageError(
                    "the interactive table needs a terminal; without one, use a subcommand: list, status, boost, unboost or watch (see --help)".into(),
                )
                .into());
            }
            require_privilege()?;
            let g = g.clone();
            tokio::task::spawn_blocking(move || crate::tui::run(&g))
                .await
                .context("the TUI thread failed")?
        }
        Some(cli::Command::List { json }) => list(g, *json).await,
        Some(cli::Command::Status { json }) => status(g, *json).await,
        Some(cli::Command::Boost {
            target,
            weight,
            force,
        }) => boost(g, &target.target()?, weight.as_deref(), *force).await,
        Some(cli::Command::Unboost { target, force }) => {
            unboost(g, target.target()?.as_ref(), target.id, *force).await
        }
        Some(cli::Command::Watch(args)) => watch(g, args).await,
        Some(cli::Command::Crd) => {
            print!("{}", crate::cpuboost::resource::crd_yaml());
            Ok(())
        }
        Some(cli::Command::Plan {
            pod,
            cgroup,
            file,
            weight,
            sample,
            json,
        }) => {
            let request = crate::plan::Request {
                pod: pod.clone(),
                cgroup: cgroup.clone(),
                file: file.clone(),
                weight: weight.clone(),
                sample_seconds: *sample,
                json: *json,
            };
            crate::plan::run(g, &request).await
        }
    }
}
