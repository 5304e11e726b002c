//! The `orco` binary: parses arguments and dispatches to one verb per module.

fn main() {}
