//! Exit codes (DESIGN.md §9), the same for every verb.

/// Success.
pub(crate) const OK: u8 = 0;
/// The operation failed.
pub(crate) const FAILURE: u8 = 1;
/// Invalid input or usage: a bad stack file, flag or argument.
pub(crate) const USAGE: u8 = 2;
/// The daemon could not be reached.
pub(crate) const UNREACHABLE: u8 = 3;
