//! Prefixed, coloured lines like compose's (`api-0  | listening on 8080`), for `orco up` and
//! `orco logs`: colour only on a terminal and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};

const PALETTE: [u8; 6] = [36, 33, 32, 35, 34, 31];

/// Writes `NAME | text` lines to stdout.
pub(crate) struct Printer {
    colour: bool,
    width: usize,
    out: std::io::Stdout,
}

impl Printer {
    pub(crate) fn new() -> Printer {
        let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        Printer {
            colour,
            width: 8,
            out: std::io::stdout(),
        }
    }

    fn prefix(&mut self, name: &str) -> String {
        self.width = self.width.max(name.len());
        let padded = format!("{name:<width$} |", width = self.width);
        if !self.colour {
            return padded;
        }
        let hash = name
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        format!("\x1b[{}m{padded}\x1b[0m", PALETTE[hash % PALETTE.len()])
    }

    /// One line of `name`.
    pub(crate) fn line(&mut self, name: &str, text: &str) {
        let prefix = self.prefix(name);
        let mut out = self.out.lock();
        // A closed stdout (a pipe whose reader left) ends the process quietly.
        if let Err(e) = writeln!(out, "{prefix} {text}") {
            crate::stdout::gone(&e);
        }
    }

    /// One of orco's own lines.
    pub(crate) fn orco(&mut self, text: &str) {
        self.line("orco", text);
    }
}
