//! The terminal while the TUI runs: raw mode, the alternate screen and mouse capture, all
//! undone when the [`TerminalGuard`] drops — on `q`, on an error, and on a panic.

use std::io::{Stdout, Write, stdout};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::error::TuiError;

/// The terminal in TUI mode; dropping it restores the terminal.
#[derive(Debug)]
pub struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    mouse: bool,
}

/// Puts the terminal back: leaves the alternate screen, releases the mouse, shows the
/// cursor, ends raw mode. Safe to call more than once.
pub fn restore() {
    let mut out = stdout();
    let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

static PANIC_HOOK: Once = Once::new();

impl TerminalGuard {
    /// Enters raw mode and the alternate screen and captures the mouse.
    pub fn enter() -> Result<TerminalGuard, TuiError> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        // From here on, a failure restores through `restore` before returning.
        let setup = (|| {
            let mut out = stdout();
            execute!(out, EnterAlternateScreen, EnableMouseCapture, cursor::Hide)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
            terminal.clear()?;
            Ok::<_, std::io::Error>(terminal)
        })();
        match setup {
            Ok(terminal) => Ok(TerminalGuard {
                terminal,
                mouse: true,
            }),
            Err(e) => {
                restore();
                Err(e.into())
            }
        }
    }

    /// The ratatui terminal, for drawing.
    pub fn terminal(&mut self) -> &mut Terminal<CrosstermBackend<Stdout>> {
        &mut self.terminal
    }

    /// Captures the mouse (`true`) or releases it so that the terminal's own selection
    /// works (`false`).
    pub fn set_mouse(&mut self, capture: bool) -> Result<(), TuiError> {
        if capture != self.mouse {
            if capture {
                execute!(self.terminal.backend_mut(), EnableMouseCapture)?;
            } else {
                execute!(self.terminal.backend_mut(), DisableMouseCapture)?;
            }
            self.mouse = capture;
        }
        Ok(())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
