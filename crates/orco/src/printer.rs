//! Prefixed, coloured lines like compose's (`api-0  | listening on 8080`), for `orco up` and
//! `orco logs`: colour only on a terminal and never with `NO_COLOR`. Each service gets the
//! next colour of the palette when it first shows up (its replicas share it), so the first six
//! services all differ.

use std::io::{IsTerminal, Write};

const PALETTE: [u8; 6] = [36, 33, 32, 35, 34, 31];

/// Writes `NAME | text` lines to stdout.
pub(crate) struct Printer {
    colour: bool,
    width: usize,
    out: std::io::Stdout,
    /// The palette index of each service seen, by name.
    colours: std::collections::HashMap<String, usize>,
}

impl Printer {
    pub(crate) fn new() -> Printer {
        let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        Printer {
            colour,
            width: 8,
            out: std::io::stdout(),
            colours: std::collections::HashMap::new(),
        }
    }

    /// The palette colour of `name`'s service (`api` for `api-0`, `STACK/api-1` or `api#3`).
    fn colour_of(&mut self, name: &str) -> u8 {
        let service = service_of(name);
        let next = self.colours.len();
        let index = *self.colours.entry(service.to_string()).or_insert(next);
        PALETTE[index % PALETTE.len()]
    }

    fn prefix(&mut self, name: &str) -> String {
        self.width = self.width.max(name.len());
        let padded = format!("{name:<width$} |", width = self.width);
        if !self.colour {
            return padded;
        }
        format!("\x1b[{}m{padded}\x1b[0m", self.colour_of(name))
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

/// The service (or task) an instance name belongs to: the name without its `-N` replica or
/// `#RUN` suffix.
fn service_of(name: &str) -> &str {
    if let Some((task, _)) = name.split_once('#') {
        return task;
    }
    match name.rsplit_once('-') {
        Some((service, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => service,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coloured() -> Printer {
        Printer {
            colour: true,
            width: 8,
            out: std::io::stdout(),
            colours: std::collections::HashMap::new(),
        }
    }

    #[test]
    fn different_services_get_different_colours_and_replicas_share_theirs() {
        let mut printer = coloured();
        let names = ["db-0", "api-0", "web-0", "worker-0", "cache-0", "proxy-0"];
        let colours: Vec<u8> = names.iter().map(|n| printer.colour_of(n)).collect();
        let mut distinct = colours.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), names.len(), "{colours:?}");
        assert_eq!(printer.colour_of("api-1"), colours[1]);
        assert_eq!(
            printer.colour_of("demo/api-2"),
            printer.colour_of("demo/api-0")
        );
    }

    #[test]
    fn a_prefix_is_coloured_by_its_service() {
        let mut printer = coloured();
        let db = printer.prefix("db-0");
        let api = printer.prefix("api-0");
        assert_ne!(db[..5], api[..5], "{db:?} {api:?}");
    }
}
