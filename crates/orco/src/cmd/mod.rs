//! One module per verb.

pub(crate) mod completions;
pub(crate) mod graph;
pub(crate) mod keeper;
pub(crate) mod schema;
pub(crate) mod up;
pub(crate) mod validate;
