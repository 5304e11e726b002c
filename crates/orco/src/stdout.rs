//! Writing to stdout without panicking: a reader that left (`orco events | head -1`) ends the
//! process quietly with exit 0, as a closed pipe ends `cat`; any other write error is reported
//! once and exits 1.

use std::io::Write;

/// Writes `args` to stdout.
pub(crate) fn write(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        gone(&e);
    }
}

/// Writes `args` and a newline to stdout.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        gone(&e);
    }
}

/// Writes `bytes` to stdout and flushes them.
pub(crate) fn bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        gone(&e);
    }
}

/// Ends the process after a failed write to stdout: quietly when its reader left.
pub(crate) fn gone(e: &std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        let _ = writeln!(std::io::stderr(), "error: cannot write to stdout: {e}");
        std::process::exit(i32::from(crate::exit::FAILURE));
    }
    std::process::exit(i32::from(crate::exit::OK));
}
