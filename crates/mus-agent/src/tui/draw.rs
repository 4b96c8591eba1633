//! Drawing: a pure function of the [`App`]. Only the lines on screen are built, so
//! a node with hundreds of pods costs one screenful per frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::app::{App, Item, Mode};
use crate::cgroup_index::Scope;

/// Lines of the screen that are not table rows: title, status, help, the table's
/// borders and header.
const CHROME: u16 = 6;

/// How many table rows fit in a terminal `height` lines tall.
pub fn table_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(CHROME)).max(1)
}

pub fn draw(frame: &mut Frame, app: &App) {
    let [title, body, status, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(title_line(app)), title);
    match app.mode {
        Mode::Stale => draw_stale(frame, app, body),
        _ => draw_table(frame, app, body),
    }
    frame.render_widget(Paragraph::new(status_line(app)), status);
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

fn status_line(app: &App) -> Line<'_> {
    if let Mode::Weight(typed) = &app.mode {
        return Line::from(format!("weight (1-65536, 1024 = normal): {typed}_"));
    }
    if app.mode == Mode::Filter {
        return Line::from(format!("/{}_", app.filter));
    }
    match (&app.message, &app.problem) {
        (Some(m), _) if m.error => Line::styled(m.text.as_str(), Style::new().fg(Color::Red)),
        (Some(m), _) => Line::styled(m.text.as_str(), Style::new().fg(Color::Green)),
        (None, Some(p)) => Line::styled(p.as_str(), Style::new().fg(Color::Yellow)),
        (None, None) => Line::default(),
    }
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
