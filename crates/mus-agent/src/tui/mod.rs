//! The interactive table (the default command): state in [`app`], drawing in
//! [`draw`], and here the loop that feeds them and carries out their actions.

pub mod app;
pub mod draw;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{self, Event, KeyEventKind};
use mus_common::cgroup::find_cgroup;
use mus_common::{CgroupId, PrioMap};
use tokio::runtime::Handle;

use crate::boost;
use crate::cgroup::cpu::CpuSampler;
use crate::cgroup::index::{self, Owner, row_cgroups};
use crate::cgroup::resolve::Resolver;
use crate::cli::Global;
use crate::kube::discovery::LiveView;
use crate::pod::ContainerRow;
use app::{Action, App, Item, StaleEntry};

/// How often the table, boosts and CPU figures refresh.
const REFRESH: Duration = Duration::from_secs(1);

/// Builds the table: each pod line followed by its container lines, with cgroup,
/// boost and CPU figures.
pub fn collect_items(
    rows: &[ContainerRow],
    root: &Path,
    weights: &HashMap<u64, u32>,
    sampler: &mut CpuSampler,
    now: Instant,
) -> Vec<Item> {
    let mut items = Vec::with_capacity(rows.len() * 2);
    let mut seen = HashSet::new();
    for (n, row) in rows.iter().enumerate() {
        let cgroups = row_cgroups(row, root);
        // Rows come sorted by pod: the first row of each pod opens its pod line.
        let first_of_pod = n == 0 || rows[n - 1].pod_uid != row.pod_uid;
        if first_of_pod {
            let pod_only = index::RowCgroups {
                pod: cgroups.pod.clone(),
                container: None,
            };
            items.push(Item {
                container: None,
                row: row.clone(),
                cpu: cgroups.pod.as_deref().and_then(|p| sampler.sample(p, now)),
                boost: pod_only.boost(weights),
                cgroup: cgroups.pod.clone(),
            });
        }
        items.push(Item {
            container: Some(row.container.clone()),
            row: row.clone(),
            cpu: cgroups
                .container
                .as_deref()
                .and_then(|p| sampler.sample(p, now)),
            boost: cgroups.boost(weights),
            cgroup: cgroups.container.clone(),
        });
        seen.extend(cgroups.pod.into_iter().chain(cgroups.container));
    }
    sampler.retain(&seen);
    items
}

/// Everything the loop talks to.
struct Backends {
    live: Option<LiveView>,
    map: Option<PrioMap>,
    resolver: Resolver,
    pin_path: std::path::PathBuf,
    handle: Handle,
}

impl Backends {
    /// The map, reopened if the runner came (back) since the last try.
    fn map(&mut self) -> Result<&PrioMap, boost::BoostError> {
        if self.map.is_none() {
            self.map = Some(boost::open_map(&self.pin_path)?);
        }
        self.map.as_ref().ok_or(boost::BoostError::Map(
            mus_common::PrioMapError::NotPinned {
                path: self.pin_path.clone(),
            },
        ))
    }

    fn weights(&mut self) -> Result<HashMap<u64, u32>, String> {
        let entries = self.map().map_err(|e| e.to_string())?.entries();
        match entries {
            Ok(entries) => Ok(entries
                .into_iter()
                .map(|e| (e.cgroup.0, e.weight))
                .collect()),
            Err(e) => {
                // The runner may have exited and unpinned: reopen next time.
                self.map = None;
                Err(e.to_string())
            }
        }
    }

    fn rows(&self) -> Vec<ContainerRow> {
        self.live.as_ref().map(LiveView::rows).unwrap_or_default()
    }

    /// Carries out `action`, returning the sentence to show.
    fn act(&mut self, action: &Action, app: &mut App) -> Result<String, String> {
        match action {
            Action::Boost(item, weight) => {
                let path = self.resolve(item)?;
                let id = boost::boost(
                    self.map().map_err(|e| e.to_string())?,
                    &path.0,
                    *weight,
                    false,
                )
                .map_err(|e| e.to_string())?;
                Ok(format!(
                    "boosted {} at weight {weight} (cgroup ID {id}){}",
                    item.label(),
                    path.1
                ))
            }
            Action::Unboost(item) => {
                let path = self.resolve(item)?;
                let (id, removed) =
                    boost::unboost(self.map().map_err(|e| e.to_string())?, &path.0, false)
                        .map_err(|e| e.to_string())?;
                Ok(if removed {
                    format!("unboosted {} (cgroup ID {id})", item.label())
                } else {
                    format!("{} was not boosted", item.label())
                })
            }
            Action::DeleteEntry(id) => {
                let removed = self
                    .map()
                    .and_then(|m| Ok(m.remove(CgroupId(*id))?))
                    .map_err(|e| e.to_string())?;
                self.load_stale(app)?;
                Ok(if removed {
                    format!("removed entry {id}")
                } else {
                    format!("entry {id} was already gone")
                })
            }
            Action::LoadStale => {
                self.load_stale(app)?;
                Ok(format!(
                    "{} entries no listed pod explains",
                    app.stale.len()
                ))
            }
            Action::Quit => Ok(String::new()),
        }
    }

    /// The cgroup of a line, plus a note when containerd was passed over.
    fn resolve(&self, item: &Item) -> Result<(std::path::PathBuf, String), String> {
        let resolution = match &item.container {
            None => self.resolver.pod(&item.row.cgroup_uid, item.row.qos),
            Some(_) if !item.row.state.is_running() => {
                return Err(format!(
                    "{} is not running ({})",
                    item.label(),
                    item.row.state
                ));
            }
            Some(_) => self.handle.block_on(self.resolver.container(&item.row)),
        }
        .map_err(|e| e.to_string())?;
        let note = resolution
            .note
            .map(|n| format!(" — {n}"))
            .unwrap_or_default();
        Ok((resolution.path, note))
    }

    fn load_stale(&mut self, app: &mut App) -> Result<(), String> {
        let root = self.resolver.cgroup_root().to_path_buf();
        let entries = self
            .map()
            .and_then(|m| Ok(m.entries()?))
            .map_err(|e| e.to_string())?;
        let owners = index::owners(&self.rows(), &root);
        let stale = index::explain(&entries, &owners, |id| find_cgroup(&root, CgroupId(id)))
            .into_iter()
            .filter(|(_, owner)| matches!(owner, Owner::Cgroup { .. } | Owner::Stale))
            .map(|(e, owner)| StaleEntry {
                id: e.cgroup.0,
                weight: e.weight,
                owner,
            })
            .collect();
        app.set_stale(stale);
        Ok(())
    }
}

/// Runs the TUI until `q`. Called on a blocking thread of the tokio runtime.
pub fn run(g: &Global) -> Result<()> {
    let handle = Handle::current();
    let _runtime = handle.enter();
    let discovery = handle.block_on(g.discovery());
    let mut app = App::new(
        discovery
            .as_ref()
            .map(|d| d.node().to_string())
            .unwrap_or_else(|_| "?".into()),
    );
    let live = match discovery {
        Ok(d) => {
            let live = d.watch();
            // Show the first list at once rather than an empty table for a tick;
            // a failing API server is reported by the view's problem() instead.
            let _ = handle.block_on(tokio::time::timeout(Duration::from_secs(3), live.ready()));
            Some(live)
        }
        Err(e) => {
            app.problem = Some(e.to_string());
            None
        }
    };
    let mut backends = Backends {
        live,
        map: None,
        resolver: g.resolver(),
        pin_path: g.pin_path.clone(),
        handle: handle.clone(),
    };
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, &mut app, &mut backends, &g.cgroup_root);
    ratatui::restore();
    result
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    backends: &mut Backends,
    root: &Path,
) -> Result<()> {
    let mut sampler = CpuSampler::default();
    let mut next_refresh = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_refresh {
            refresh(app, backends, &mut sampler, root, now);
            next_refresh = now + REFRESH;
        }
        let size = terminal.size()?;
        app.set_viewport(draw::table_rows(app, size.width, size.height));
        terminal.draw(|frame| draw::draw(frame, app))?;
        if !event::poll(next_refresh.saturating_duration_since(Instant::now()))? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue;
        };
        // Windows-style terminals report releases too; act on presses only.
        if key.kind != KeyEventKind::Press {
            continue;
        }
        let Some(action) = app.handle_key(key) else {
            continue;
        };
        if action == Action::Quit {
            return Ok(());
        }
        match backends.act(&action, app) {
            Ok(text) => app.info(text),
            Err(text) => app.error(text),
        }
        // Show the effect of a boost at once, not at the next tick.
        next_refresh = Instant::now();
    }
}

fn refresh(
    app: &mut App,
    backends: &mut Backends,
    sampler: &mut CpuSampler,
    root: &Path,
    now: Instant,
) {
    let rows = backends.rows();
    let (weights, map_problem) = match backends.weights() {
        Ok(w) => (w, None),
        Err(e) => (HashMap::new(), Some(e)),
    };
    let watch_problem = backends.live.as_ref().and_then(LiveView::problem);
    if backends.live.is_some() {
        app.problem = watch_problem.or(map_problem);
    } else if app.problem.is_none() {
        app.problem = map_problem;
    }
    app.set_items(collect_items(&rows, root, &weights, sampler, now));
}
