//! `orco job monitor ID`: follows one run live, one line per task (state, a progress bar with
//! percent and message, attempts, duration). On a terminal the lines are redrawn in place;
//! otherwise a task's line is printed again each time it changes. Ends when the run does,
//! with its outcome as the exit code.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use orco_wire::job::{JobRunView, TaskView};
use orco_wire::{JobState, TaskState};

use crate::cmd::job::JobIdArgs;
use crate::exit;
use crate::remote::{self, Failure};

/// How often the run is read again.
const POLL: Duration = Duration::from_millis(200);

/// Width of the progress bar, between its brackets.
const BAR: usize = 20;

/// Longest message shown.
const MESSAGE: usize = 60;

pub(crate) async fn monitor(args: &JobIdArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    // `JOB` names the latest run: pin it, so that a later run does not take over.
    let mut view = client.job(&args.id).await?;
    let id = view.id.clone();
    let structured = !matches!(
        args.format.output,
        crate::args::Format::Table | crate::args::Format::Wide
    );
    let terminal = !structured && std::io::stdout().is_terminal();
    let mut screen = Screen::default();
    loop {
        if !structured {
            let lines = render(&view);
            if terminal {
                screen.redraw(&lines, width());
            } else {
                screen.append_changes(&view, &lines);
            }
        }
        if view.finished_at.is_some() {
            break;
        }
        tokio::time::sleep(POLL).await;
        view = client.job(&id).await?;
    }
    if structured {
        remote::print_structured(&view, args.format.output)?;
    } else if !terminal {
        println!("{} {}", view.id, view.state);
    }
    Ok(if view.state == JobState::Succeeded {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// The terminal's width, or a wide default.
fn width() -> usize {
    crossterm::terminal::size().map_or(200, |(w, _)| usize::from(w).max(20))
}

/// What was printed, to redraw over it or to print only what changed.
#[derive(Debug, Default)]
struct Screen {
    /// Lines drawn last (terminal).
    drawn: usize,
    /// The last printed state of each task (no terminal): everything but the duration.
    printed: std::collections::BTreeMap<String, String>,
}

impl Screen {
    /// Draws `lines` over the ones drawn before.
    fn redraw(&mut self, lines: &[String], width: usize) {
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for line in lines {
            out.push_str("\x1b[2K");
            out.push_str(&clip(line, width.saturating_sub(1)));
            out.push('\n');
        }
        // Clear whatever is left below (a shorter drawing than the last).
        out.push_str("\x1b[J");
        self.drawn = lines.len();
        crate::stdout::bytes(out.as_bytes());
    }

    /// Prints the line of every task whose state, progress, attempts or message changed.
    fn append_changes(&mut self, view: &JobRunView, lines: &[String]) {
        let mut stdout = std::io::stdout().lock();
        // The first line is the run's heading; the others follow `view.tasks`.
        for (task, line) in view.tasks.iter().zip(lines.iter().skip(1)) {
            let key = format!(
                "{}|{:?}|{}|{:?}",
                task.state, task.percent, task.attempts, task.message
            );
            if self.printed.get(&task.name) != Some(&key) {
                self.printed.insert(task.name.clone(), key);
                if let Err(e) = writeln!(stdout, "{}", line.trim_end()) {
                    crate::stdout::gone(&e);
                }
            }
        }
        if let Err(e) = stdout.flush() {
            crate::stdout::gone(&e);
        }
    }
}

/// The lines of a run: a heading, then one per task.
fn render(view: &JobRunView) -> Vec<String> {
    let name_width = view
        .tasks
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let done = view.tasks.iter().filter(|t| t.state.is_finished()).count();
    let mut lines = vec![format!(
        "{}  {}  {done}/{} tasks done",
        view.id,
        view.state,
        view.tasks.len()
    )];
    lines.extend(view.tasks.iter().map(|t| task_line(t, name_width)));
    lines
}

/// One task: name, state, progress bar and percent, attempts, duration, message.
fn task_line(t: &TaskView, name_width: usize) -> String {
    let percent = match (t.percent, t.state) {
        (_, TaskState::Succeeded) => Some(100),
        (p, _) => p,
    };
    let filled = percent.map_or(0, |p| usize::from(p.min(100)) * BAR / 100);
    let bar = format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR - filled));
    let percent = percent.map_or_else(|| "   -".to_string(), |p| format!("{p:>3}%"));
    let duration = t.duration_ms.map_or_else(|| "-".to_string(), seconds);
    let message = t.message.as_deref().unwrap_or("");
    format!(
        "  {:<name_width$}  {:<9} {bar} {percent}  attempts {:<2} {:>7}  {}",
        t.name,
        t.state,
        t.attempts,
        duration,
        clip(message, MESSAGE)
    )
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// `text` cut to `max` characters (with `…` when cut).
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, state: TaskState, percent: Option<u8>, message: Option<&str>) -> TaskView {
        TaskView {
            name: name.into(),
            state,
            depends_on: Vec::new(),
            attempts: 1,
            started_at: None,
            since: None,
            duration_ms: Some(1500),
            exit_code: None,
            signal: None,
            percent,
            message: message.map(str::to_string),
            pid: None,
        }
    }

    #[test]
    fn a_task_line_shows_state_a_bar_with_percent_attempts_duration_and_message() {
        let line = task_line(
            &task("copy", TaskState::Running, Some(50), Some("half way")),
            6,
        );
        assert_eq!(
            line,
            "  copy    running   [##########..........]  50%  attempts 1     1.5s  half way"
        );
    }

    #[test]
    fn a_succeeded_task_has_a_full_bar_and_one_without_progress_an_empty_one() {
        assert!(
            task_line(&task("a", TaskState::Succeeded, None, None), 4)
                .contains("[####################] 100%")
        );
        assert!(
            task_line(&task("a", TaskState::Waiting, None, None), 4)
                .contains("[....................]    -")
        );
    }

    #[test]
    fn a_long_message_is_clipped() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
