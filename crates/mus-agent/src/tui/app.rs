//! The TUI's state and what each key does to it. No terminal here: keys come in as
//! crossterm events, side effects go out as [`Action`]s for the loop to carry out.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mus_common::Weight;

use crate::cgroup::index::{Boost, Owner};
use crate::pod::ContainerRow;

/// One line of the table: a pod (boosting it boosts all its containers) or one of
/// its containers.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// `None` for the pod line; the pod line carries its first container's row for
    /// the pod's UID, QoS class and phase.
    pub container: Option<String>,
    pub row: ContainerRow,
    pub cgroup: Option<PathBuf>,
    pub boost: Option<Boost>,
    /// Percent of one CPU over the last refresh.
    pub cpu: Option<f64>,
}

impl Item {
    /// Stable identity across refreshes, to keep the selection on the same line.
    fn key(&self) -> (String, String, Option<String>) {
        (
            self.row.namespace.clone(),
            self.row.pod.clone(),
            self.container.clone(),
        )
    }

    pub fn label(&self) -> String {
        match &self.container {
            Some(c) => format!("container {}/{}/{c}", self.row.namespace, self.row.pod),
            None => format!("pod {}/{}", self.row.namespace, self.row.pod),
        }
    }

    fn matches(&self, needle: &str) -> bool {
        let hay = format!(
            "{}/{}/{}",
            self.row.namespace, self.row.pod, self.row.container
        );
        hay.to_lowercase().contains(&needle.to_lowercase())
    }
}

/// A map entry that no listed pod explains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleEntry {
    pub id: u64,
    pub weight: u32,
    pub owner: Owner,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter after `/`.
    Filter,
    /// Typing a weight after `w`.
    Weight(String),
    /// The stale-entries view.
    Stale,
}

/// What the loop must do after a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Quit,
    Boost(Item, Weight),
    Unboost(Item),
    /// Compute the stale entries (walks the cgroup tree, so only on request).
    LoadStale,
    DeleteEntry(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

#[derive(Debug)]
pub struct App {
    pub node: String,
    items: Vec<Item>,
    /// Indices into `items` that pass the filter, in display order.
    visible: Vec<usize>,
    /// Position in `visible`.
    selected: usize,
    /// First position of `visible` on screen.
    offset: usize,
    /// Table lines that fit on screen.
    viewport: usize,
    pub filter: String,
    pub mode: Mode,
    /// Weight that Enter/b boosts with; `w` changes it.
    pub weight: Weight,
    pub stale: Vec<StaleEntry>,
    stale_selected: usize,
    pub message: Option<Message>,
    /// A standing problem (API unreachable, no map), shown until it clears.
    pub problem: Option<String>,
}

impl App {
    pub fn new(node: String) -> App {
        App {
            node,
            items: Vec::new(),
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            viewport: 20,
            filter: String::new(),
            mode: Mode::Normal,
            weight: Weight::default(),
            stale: Vec::new(),
            stale_selected: 0,
            message: None,
            problem: None,
        }
    }

    /// Replaces the table, keeping the cursor on the same pod or container if it
    /// is still there.
    pub fn set_items(&mut self, items: Vec<Item>) {
        let current = self.selected_item().map(Item::key);
        self.items = items;
        self.refilter();
        if let Some(key) = current
            && let Some(pos) = self
                .visible
                .iter()
                .position(|&i| self.items[i].key() == key)
        {
            self.selected = pos;
        }
        self.clamp();
    }

    pub fn set_viewport(&mut self, lines: usize) {
        self.viewport = lines.max(1);
        self.clamp();
    }

    pub fn set_stale(&mut self, stale: Vec<StaleEntry>) {
        self.stale = stale;
        self.stale_selected = self.stale_selected.min(self.stale.len().saturating_sub(1));
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: false,
        });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: true,
        });
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The items on screen now, with whether each is the selected one.
    pub fn window(&self) -> impl Iterator<Item = (&Item, bool)> {
        let end = (self.offset + self.viewport).min(self.visible.len());
        let start = self.offset.min(end);
        self.visible[start..end]
            .iter()
            .enumerate()
            .map(move |(n, &i)| (&self.items[i], start + n == self.selected))
    }

    pub fn visible_count(&self) -> usize {
        self.visible.len()
    }

    pub fn selected_item(&self) -> Option<&Item> {
        self.visible.get(self.selected).map(|&i| &self.items[i])
    }

    pub fn stale_selected(&self) -> usize {
        self.stale_selected
    }

    fn refilter(&mut self) {
        let needle = self.filter.trim();
        self.visible = (0..self.items.len())
            .filter(|&i| needle.is_empty() || self.items[i].matches(needle))
            .collect();
    }

    /// Keeps the selection in range and on screen.
    fn clamp(&mut self) {
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + self.viewport {
            self.offset = self.selected + 1 - self.viewport;
        }
        // No blank space under the last row when the list shrank.
        let max_offset = self.visible.len().saturating_sub(self.viewport);
        self.offset = self.offset.min(max_offset);
    }

    fn move_by(&mut self, delta: isize) {
        self.selected = self.selected.saturating_add_signed(delta);
        self.clamp();
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        match self.mode.clone() {
            Mode::Normal => self.normal_key(key),
            Mode::Filter => {
                self.filter_key(key);
                None
            }
            Mode::Weight(typed) => self.weight_key(key, typed),
            Mode::Stale => self.stale_key(key),
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Option<Action> {
        let page = self.viewport as isize;
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.refilter();
                self.clamp();
            }
            KeyCode::Esc => return Some(Action::Quit),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX / 2),
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Enter | KeyCode::Char('b') => {
                return self
                    .selected_item()
                    .cloned()
                    .map(|item| Action::Boost(item, self.weight));
            }
            KeyCode::Char('u') => return self.selected_item().cloned().map(Action::Unboost),
            KeyCode::Char('w') => self.mode = Mode::Weight(String::new()),
            KeyCode::Char('s') => {
                self.mode = Mode::Stale;
                return Some(Action::LoadStale);
            }
            _ => {}
        }
        None
    }

    fn filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Esc => {
                self.filter.clear();
                self.mode = Mode::Normal;
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) => self.filter.push(c),
            _ => return,
        }
        self.refilter();
        self.selected = 0;
        self.offset = 0;
        self.clamp();
    }

    fn weight_key(&mut self, key: KeyEvent, mut typed: String) -> Option<Action> {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                typed.pop();
                self.mode = Mode::Weight(typed);
            }
            KeyCode::Char(c) if c.is_ascii_digit() => {
                typed.push(c);
                self.mode = Mode::Weight(typed);
            }
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                match typed.parse::<Weight>() {
                    Ok(weight) => {
                        self.weight = weight;
                        // Setting a weight applies it to the selected line at once.
                        return self
                            .selected_item()
                            .cloned()
                            .map(|item| Action::Boost(item, weight));
                    }
                    Err(e) => self.error(e.to_string()),
                }
            }
            _ => {}
        }
        None
    }

    fn stale_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Esc | KeyCode::Char('s') => self.mode = Mode::Normal,
            KeyCode::Down | KeyCode::Char('j') => {
                self.stale_selected =
                    (self.stale_selected + 1).min(self.stale.len().saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.stale_selected = self.stale_selected.saturating_sub(1)
            }
            KeyCode::Char('d') | KeyCode::Delete => {
                return self
                    .stale
                    .get(self.stale_selected)
                    .map(|e| Action::DeleteEntry(e.id));
            }
            _ => {}
        }
        None
    }
}
