//! One module per verb.

pub(crate) mod completions;
pub(crate) mod graph;
pub(crate) mod schema;
pub(crate) mod validate;
