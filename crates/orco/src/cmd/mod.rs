//! One module per verb.

pub(crate) mod apply;
pub(crate) mod cluster;
pub(crate) mod completions;
pub(crate) mod convert;
pub(crate) mod daemon;
pub(crate) mod down;
pub(crate) mod events;
pub(crate) mod graph;
pub(crate) mod history;
pub(crate) mod instance;
pub(crate) mod job;
pub(crate) mod keeper;
pub(crate) mod logs;
pub(crate) mod node;
pub(crate) mod ps;
pub(crate) mod restart;
pub(crate) mod run;
pub(crate) mod scale;
pub(crate) mod schema;
pub(crate) mod start;
pub(crate) mod status;
pub(crate) mod stop;
pub(crate) mod tui;
pub(crate) mod up;
pub(crate) mod validate;
pub(crate) mod workload;
