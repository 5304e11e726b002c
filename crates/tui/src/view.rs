//! Drawing the [`Model`] into a ratatui frame: the header, the status table, the detail or
//! dependency-graph pane, the log pane, the footer with the keys (and the copy-mode
//! indicator), and the dialogs. Pure: the same model always draws the same screen. With
//! several stacks, the table groups their workloads under a row naming each stack.

use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use orco_wire::WorkloadKind;

use crate::logs::Level;
use crate::model::{Connection, Mode, Model};

/// The column titles of the status table.
pub const COLUMNS: [&str; 9] = [
    "SERVICE", "STATE", "READY", "REPL", "RESTARTS", "CPU", "MEM", "AGE", "MESSAGE",
];

/// The text shown while the mouse is released.
pub const COPY_MODE: &str = " COPY MODE: mouse released, select text to copy · m returns ";

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, model: &Model) {
    let area = frame.area();
    let table_height = u16::try_from(model.workloads.len() + group_rows(model))
        .unwrap_or(u16::MAX)
        .saturating_add(3)
        .min(area.height.saturating_mul(2) / 5)
        .max(4);
    let detail_height = if model.show_graph { area.height / 4 } else { 4 }.max(3);
    let [header, table, detail, logs, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_height),
        Constraint::Length(detail_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, model, header);
    draw_table(frame, model, table);
    if model.show_graph {
        draw_graph(frame, model, detail);
    } else {
        draw_detail(frame, model, detail);
    }
    draw_logs(frame, model, logs);
    draw_footer(frame, model, footer);
    draw_dialog(frame, model, area);
}

fn draw_header(frame: &mut Frame<'_>, model: &Model, area: Rect) {
    let connection = match &model.connection {
        Connection::Connecting => Span::styled("connecting…", Style::new().fg(Color::Yellow)),
        Connection::Live => Span::styled("live", Style::new().fg(Color::Green)),
        Connection::Lost(why) => {
            Span::styled(format!("reconnecting: {why}"), Style::new().fg(Color::Red))
        }
    };
    let mut spans = vec![
        Span::styled(
            " orco ",
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::raw(format!(
            " {} · revision {} · {} workloads · ",
            match model.stacks.as_slice() {
                [] => "stack -".to_string(),
                [only] => format!("stack {only}"),
                several => format!("stacks {}", several.join(", ")),
            },
            model.revision,
            model.workloads.len()
        )),
        connection,
    ];
    if model.copy_mode {
        spans.push(Span::raw("  "));
        spans.push(copy_span());
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn copy_span() -> Span<'static> {
    Span::styled(
        COPY_MODE,
        Style::new()
            .fg(Color::Black)
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
    )
}

/// The colour of a state word.
fn state_style(state: &str) -> Style {
    match state {
        "running" | "succeeded" => Style::new().fg(Color::Green),
        "failed" | "degraded" => Style::new().fg(Color::Red),
        "blocked" => Style::new().fg(Color::Magenta),
        "restarting" | "starting" | "pending" | "stopping" => Style::new().fg(Color::Yellow),
        _ => Style::new(),
    }
}

/// A short age: `42s`, `5m`, `3h`, `2d`.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let seconds = now.as_second().saturating_sub(since.as_second()).max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Bytes as `512K`, `12M`, `1.5G`.
pub fn bytes(n: u64) -> String {
    const K: u64 = 1024;
    match n {
        n if n < K * K => format!("{}K", n / K),
        n if n < K * K * K => format!("{}M", n / (K * K)),
        n => format!("{:.1}G", n as f64 / (K * K * K) as f64),
    }
}

/// How many stack header rows the table has: one per stack when several are shown.
fn group_rows(model: &Model) -> usize {
    if model.grouped() {
        model.stacks.len()
    } else {
        0
    }
}

/// The table's rows: with several stacks, a header row before each stack's workloads. The
/// index of the selected workload's row comes with them.
fn table_rows<'a>(model: &'a Model, rows: Vec<Row<'a>>) -> (Vec<Row<'a>>, Option<usize>) {
    if !model.grouped() {
        let selected = (!rows.is_empty()).then_some(model.selected);
        return (rows, selected);
    }
    let mut out = Vec::with_capacity(rows.len() + model.stacks.len());
    let mut selected = None;
    let mut current: Option<&str> = None;
    for (i, (w, row)) in model.workloads.iter().zip(rows).enumerate() {
        if current != Some(w.stack.as_str()) {
            current = Some(w.stack.as_str());
            out.push(
                Row::new(vec![Cell::from(format!("stack {}", w.stack))])
                    .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
            );
        }
        if i == model.selected {
            selected = Some(out.len());
        }
        out.push(row);
    }
    // A stack without workloads still gets its row.
    for stack in &model.stacks {
        if !model.workloads.iter().any(|w| &w.stack == stack) {
            out.push(
                Row::new(vec![Cell::from(format!("stack {stack} (no workloads)"))])
                    .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
            );
        }
    }
    (out, selected)
}

fn draw_table(frame: &mut Frame<'_>, model: &Model, area: Rect) {
    let indent = if model.grouped() { 2 } else { 0 };
    let name_width = model
        .workloads
        .iter()
        .map(|w| w.name.chars().count() + indent)
        .max()
        .unwrap_or(7)
        .clamp(7, 28);
    let rows = model.workloads.iter().map(|w| {
        let blocked = model.blocked(w);
        let state = if blocked.is_some() {
            "blocked"
        } else {
            w.state.as_str()
        };
        let (ready, repl) = if w.kind == WorkloadKind::Service {
            (
                format!("{}/{}", w.ready, w.replicas),
                w.replicas.to_string(),
            )
        } else {
            ("-".into(), "-".into())
        };
        let (cpu, mem) = match model.usage.get(&w.id) {
            Some(u) => (format!("{:.0}%", u.cpu_percent), bytes(u.memory_bytes)),
            None => ("-".into(), "-".into()),
        };
        let message = blocked
            .or_else(|| {
                (w.kind == WorkloadKind::Job)
                    .then(|| model.job_progress(&w.id))
                    .flatten()
            })
            .or_else(|| w.message.clone())
            .unwrap_or_default();
        let pad = " ".repeat(indent);
        let name = if w.kind == WorkloadKind::Job {
            format!("{pad}{} (job)", w.name)
        } else {
            format!("{pad}{}", w.name)
        };
        Row::new(vec![
            Cell::from(name),
            Cell::from(Span::styled(state.to_string(), state_style(state))),
            Cell::from(ready),
            Cell::from(repl),
            Cell::from(w.restarts.to_string()),
            Cell::from(cpu),
            Cell::from(mem),
            Cell::from(age(w.since, model.now)),
            Cell::from(message),
        ])
    });
    let (rows, selected) = table_rows(model, rows.collect());
    let widths = [
        Constraint::Length(u16::try_from(name_width + 6).unwrap_or(34)),
        Constraint::Length(14),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Fill(1),
    ];
    let header = Row::new(COLUMNS.iter().map(|c| Cell::from(*c)))
        .style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::new().borders(Borders::TOP | Borders::BOTTOM))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
    let mut state = TableState::default();
    state.select(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_detail(frame: &mut Frame<'_>, model: &Model, area: Rect) {
    let mut lines = Vec::new();
    match model.selected_workload() {
        None => lines.push(Line::from(match model.connection {
            Connection::Connecting => "reading the stack…",
            _ => "no workload: apply a stack with `orco apply -f FILE` or `orco up`",
        })),
        Some(w) => {
            let mut head = format!("{} · {}", model.label(&w.id), w.kind);
            if let Some(runtime) = &w.runtime {
                head.push_str(&format!(" · {}", runtime.as_str()));
            }
            if let Some(command) = &w.command {
                head.push_str(&format!(" · {command}"));
            }
            if let Some(deps) = model.topology(&w.stack).and_then(|t| t.deps.get(&w.name))
                && !deps.is_empty()
            {
                let names: Vec<String> = deps
                    .iter()
                    .map(|d| format!("{} {}", d.target, d.require.as_str()))
                    .collect();
                head.push_str(&format!(" · needs {}", names.join(", ")));
            }
            lines.push(Line::from(Span::styled(
                head,
                Style::new().add_modifier(Modifier::BOLD),
            )));
            if let Some(reason) = model.blocked(w) {
                lines.push(Line::from(Span::styled(
                    format!("why blocked: {reason}"),
                    Style::new().fg(Color::Magenta),
                )));
            }
            let instances = model
                .instances
                .get(&w.id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let parts: Vec<String> = instances
                .iter()
                .map(|i| {
                    let mut text = format!("{} {}", i.name, i.phase);
                    if i.ready {
                        text.push_str(" ready");
                    }
                    if let Some(pid) = i.pid {
                        text.push_str(&format!(" pid {pid}"));
                    }
                    if let Some(reason) = &i.reason {
                        text.push_str(&format!(" ({reason})"));
                    }
                    text
                })
                .collect();
            if !parts.is_empty() {
                lines.push(Line::from(parts.join(" · ")));
            } else if let Some(progress) = model.job_progress(&w.id) {
                lines.push(Line::from(progress));
            }
        }
    }
    let block = Block::new()
        .borders(Borders::BOTTOM)
        .title(" detail (d: dependency graph) ");
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        area,
    );
}

fn draw_graph(frame: &mut Frame<'_>, model: &Model, area: Rect) {
    // The graph of the selected workload's stack.
    let stack = model
        .selected_workload()
        .map(|w| w.stack.clone())
        .or_else(|| model.stacks.first().cloned())
        .unwrap_or_default();
    let workloads: Vec<_> = model
        .workloads
        .iter()
        .filter(|w| w.stack == stack)
        .cloned()
        .collect();
    let lines: Vec<Line<'_>> = model
        .topology(&stack)
        .map(|t| t.lines(&workloads))
        .unwrap_or_default()
        .into_iter()
        .map(Line::from)
        .collect();
    let title = if model.grouped() {
        format!(" dependency graph of stack {stack} (d: detail) ")
    } else {
        " dependency graph (d: detail) ".to_string()
    };
    let block = Block::new().borders(Borders::BOTTOM).title(title);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn level_style(level: Option<Level>) -> Style {
    match level {
        Some(Level::Error) => Style::new().fg(Color::Red),
        Some(Level::Warn) => Style::new().fg(Color::Yellow),
        Some(Level::Debug | Level::Trace) => Style::new().fg(Color::DarkGray),
        Some(Level::Info) | None => Style::new(),
    }
}

fn draw_logs(frame: &mut Frame<'_>, model: &Model, area: Rect) {
    let filter = model.log_filter();
    let height = usize::from(area.height.saturating_sub(1));
    let lines: Vec<Line<'_>> = model
        .logs
        .tail(&filter, model.log_scroll, height)
        .into_iter()
        .map(|l| {
            let who = l.instance.as_deref().unwrap_or(&l.workload);
            let who = if l.source == "orco" {
                Span::styled(format!("{who:>14} orco "), Style::new().fg(Color::Cyan))
            } else {
                Span::styled(format!("{who:>14} │ "), Style::new().fg(Color::Blue))
            };
            let level = Span::styled(
                format!("{:<5} ", l.level.map_or("", Level::as_str).to_uppercase()),
                level_style(l.level),
            );
            Line::from(vec![who, level, Span::raw(l.msg.as_str())])
        })
        .collect();
    let mut title = format!(
        " logs: {}",
        match &filter.workload {
            Some(w) => w.clone(),
            None => "all".into(),
        }
    );
    title.push_str(&format!(
        " · level ≥ {}",
        model.log_level.map_or("any", Level::as_str)
    ));
    if let Some(regex) = &model.log_regex {
        title.push_str(&format!(" · /{}/", regex.as_str()));
    }
    if model.log_scroll > 0 {
        title.push_str(&format!(
            " · scrolled back {} (PgDn follows)",
            model.log_scroll
        ));
    }
    if model.logs_dropped > 0 {
        title.push_str(&format!(" · {} lines dropped", model.logs_dropped));
    }
    title.push(' ');
    let block = Block::new().borders(Borders::TOP).title(title);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The keys, as the footer shows them.
pub const KEYS: &str = "q quit · ↑↓ select · r restart · x stop · s start · c scale · l level · f filter · a all/one · / search · d graph · m copy · ? help";

fn draw_footer(frame: &mut Frame<'_>, model: &Model, area: Rect) {
    let mut spans = Vec::new();
    if model.copy_mode {
        spans.push(copy_span());
        spans.push(Span::raw(" "));
    }
    match &model.notice {
        Some(n) if n.error => spans.push(Span::styled(n.text.clone(), Style::new().fg(Color::Red))),
        Some(n) => spans.push(Span::styled(n.text.clone(), Style::new().fg(Color::Green))),
        None => spans.push(Span::styled(KEYS, Style::new().fg(Color::DarkGray))),
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A rectangle of `width` × `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn dialog(frame: &mut Frame<'_>, area: Rect, title: &str, lines: Vec<Line<'_>>) {
    let height = u16::try_from(lines.len()).unwrap_or(20).saturating_add(2);
    let width = lines
        .iter()
        .map(Line::width)
        .max()
        .unwrap_or(20)
        .max(title.chars().count() + 2)
        .saturating_add(4);
    let rect = centered(area, u16::try_from(width).unwrap_or(u16::MAX), height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered().title(format!(" {title} "));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn draw_dialog(frame: &mut Frame<'_>, model: &Model, area: Rect) {
    let error_line = |e: &Option<String>| {
        e.as_ref()
            .map(|e| Line::from(Span::styled(e.clone(), Style::new().fg(Color::Red))))
    };
    match &model.mode {
        Mode::Normal => {}
        Mode::Confirm { action, workload } => {
            let workload = model.label(workload);
            dialog(
                frame,
                area,
                &format!("{} {workload}", action.word()),
                vec![
                    Line::from(format!("{} every instance of {workload}?", action.word())),
                    Line::from("y / Enter: yes · n / Esc: no"),
                ],
            )
        }
        Mode::Scale {
            workload,
            input,
            error,
            ..
        } => {
            let current = model
                .workloads
                .iter()
                .find(|w| &w.id == workload)
                .map_or(0, |w| w.replicas);
            let workload = model.label(workload);
            let mut lines = vec![
                Line::from(format!("scale {workload} (now {current} replicas)")),
                Line::from(vec![
                    Span::raw("replicas: "),
                    Span::styled(
                        format!("{input}▏"),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                ]),
                Line::from("digits or +/- · Enter: apply · Esc: cancel"),
            ];
            lines.extend(error_line(error));
            dialog(frame, area, &format!("scale {workload}"), lines);
        }
        Mode::Filter { input, error } => {
            let mut lines = vec![
                Line::from(vec![Span::raw("regex: "), Span::raw(format!("{input}▏"))]),
                Line::from("Enter: apply (empty clears) · Esc: cancel"),
            ];
            lines.extend(error_line(error));
            dialog(frame, area, "filter logs", lines);
        }
        Mode::Search { input } => dialog(
            frame,
            area,
            "search workloads",
            vec![
                Line::from(format!("name contains: {input}▏")),
                Line::from("Enter: select the first match · n: next · Esc: cancel"),
            ],
        ),
        Mode::Help => dialog(
            frame,
            area,
            "keys",
            [
                "↑ ↓ j k g G   select a workload",
                "r             restart the selected service (asks first)",
                "x             stop it (asks first) · s start it again",
                "c             scale it: type the replica count",
                "l             logs: cycle the minimum level",
                "f             logs: filter by a regex",
                "a             logs: all workloads / the selected one",
                "PgUp PgDn     logs: scroll back / forward (PgDn to the end follows)",
                "/ n           search workloads by name, next match",
                "d             dependency graph / detail",
                "m             copy mode: release the mouse to select text",
                "q Ctrl-C      quit",
                "",
                "any key closes this help",
            ]
            .into_iter()
            .map(Line::from)
            .collect(),
        ),
    }
}
