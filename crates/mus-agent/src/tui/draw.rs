//! Drawing: a pure function of the [`App`]. Only the lines on screen are built, so
//! a node with hundreds of pods costs one screenful per frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::app::{App, Item, Mode};
use crate::cgroup::index::Scope;

/// Lines of the screen that are not table rows: title, one status line, help, the
/// table's borders and header.
const CHROME: u16 = 6;

/// Lines the status may take: a long error wraps onto up to this many.
const STATUS_LINES: usize = 3;

/// How many table rows fit in a terminal of `width` × `height` with `app`'s status.
pub fn table_rows(app: &App, width: u16, height: u16) -> usize {
    let extra_status = status_lines(app, width).len().saturating_sub(1);
    let extra_status = u16::try_from(extra_status).unwrap_or(u16::MAX);
    usize::from(height.saturating_sub(CHROME + extra_status)).max(1)
}

pub fn draw(frame: &mut Frame, app: &App) {
    let status_text = status_lines(app, frame.area().width);
    let status_height = u16::try_from(status_text.len()).unwrap_or(1);
    let [title, body, status, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(status_height),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(title_line(app)), title);
    match app.mode {
        Mode::Stale => draw_stale(frame, app, body),
        _ => draw_table(frame, app, body),
    }
    frame.render_widget(Paragraph::new(status_text), status);
    frame.render_widget(
        Paragraph::new(help_line(app)).style(Style::new().fg(Color::DarkGray)),
        help,
    );
}

fn title_line(app: &App) -> Line<'_> {
    let mut spans = vec![
        Span::styled("mus-agent", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            " node {}  {} lines  boost weight {}",
            app.node,
            app.visible_count(),
            app.weight
        )),
    ];
    if !app.filter.is_empty() || app.mode == Mode::Filter {
        spans.push(Span::raw(format!("  filter /{}", app.filter)));
    }
    Line::from(spans)
}

/// The status text and its colour.
fn status(app: &App) -> (String, Style) {
    if let Mode::Weight(typed) = &app.mode {
        return (
            format!("weight (1-65536, 1024 = normal): {typed}_"),
            Style::new(),
        );
    }
    if app.mode == Mode::Filter {
        return (format!("/{}_", app.filter), Style::new());
    }
    match (&app.message, &app.problem) {
        (Some(m), _) if m.error => (m.text.clone(), Style::new().fg(Color::Red)),
        (Some(m), _) => (m.text.clone(), Style::new().fg(Color::Green)),
        (None, Some(p)) => (p.clone(), Style::new().fg(Color::Yellow)),
        (None, None) => (String::new(), Style::new()),
    }
}

/// The status wrapped at spaces to `width`, on up to [`STATUS_LINES`] lines; text
/// that does not fit ends in "…" so that a cut is visible.
fn status_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let (text, style) = status(app);
    let width = usize::from(width.max(2));
    let mut lines: Vec<String> = textwrap::wrap(&text, width)
        .into_iter()
        .map(|l| l.into_owned())
        .collect();
    if lines.len() > STATUS_LINES {
        lines.truncate(STATUS_LINES);
        if let Some(last) = lines.last_mut() {
            let keep: String = last.chars().take(width - 1).collect();
            *last = keep + "…";
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines.into_iter().map(|l| Line::styled(l, style)).collect()
}

fn help_line(app: &App) -> &'static str {
    match app.mode {
        Mode::Stale => "j/k move  d delete entry  s/Esc back  q quit",
        Mode::Filter => "type to filter  Enter keep  Esc clear",
        Mode::Weight(_) => "digits  Enter set and boost  Esc cancel",
        Mode::Normal => {
            "j/k move  Enter/b boost  u unboost  w weight  / filter  s stale entries  q quit"
        }
    }
}

fn marker(item: &Item) -> &'static str {
    match item.boost {
        // Boosted by its own entry, or covered by its pod's entry.
        Some(b) if b.scope == Scope::Pod && item.container.is_some() => "○",
        Some(_) => "●",
        None => " ",
    }
}

fn item_row(item: &Item) -> Row<'_> {
    let name = match &item.container {
        Some(c) => format!("  └ {c}"),
        None => item.row.pod.clone(),
    };
    let state = match &item.container {
        Some(_) => item.row.state.to_string(),
        None => item.row.phase.clone(),
    };
    let qos = item.row.qos.map(|q| q.to_string()).unwrap_or_default();
    let weight = item.boost.map(|b| b.weight.to_string()).unwrap_or_default();
    let cpu = item.cpu.map(|c| format!("{c:5.1}")).unwrap_or_default();
    let style = if item.container.is_none() {
        Style::new().add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    Row::new([
        Cell::from(marker(item)),
        Cell::from(item.row.namespace.as_str()),
        Cell::from(name),
        Cell::from(state),
        Cell::from(qos),
        Cell::from(weight),
        Cell::from(cpu),
    ])
    .style(style)
}

fn draw_table(frame: &mut Frame, app: &App, area: Rect) {
    let highlight = Style::new().add_modifier(Modifier::REVERSED);
    let rows = app.window().map(|(item, selected)| {
        let row = item_row(item);
        if selected { row.style(highlight) } else { row }
    });
    let header = Row::new([
        "",
        "NAMESPACE",
        "POD / CONTAINER",
        "STATE",
        "QOS",
        "WEIGHT",
        "CPU%",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(1),
        Constraint::Percentage(18),
        Constraint::Percentage(40),
        Constraint::Percentage(17),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    let table = Table::new(rows, widths).header(header).block(
        Block::new()
            .borders(Borders::ALL)
            .title(" pods of this node "),
    );
    frame.render_widget(table, area);
}

fn draw_stale(frame: &mut Frame, app: &App, area: Rect) {
    let highlight = Style::new().add_modifier(Modifier::REVERSED);
    let rows = app.stale.iter().enumerate().map(|(n, e)| {
        let row = Row::new([e.id.to_string(), e.weight.to_string(), e.owner.to_string()]);
        if n == app.stale_selected() {
            row.style(highlight)
        } else {
            row
        }
    });
    let title = format!(" map entries no listed pod explains: {} ", app.stale.len());
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(["CGROUP ID", "WEIGHT", "WHAT"]).style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::new().borders(Borders::ALL).title(title));
    frame.render_widget(table, area);
}
