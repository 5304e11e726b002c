//! The plan of an apply: what applying a stack file would change in the running stack.
//!
//! [`plan`] is a pure function of the running stack ([`Running`]: the resolved stack the
//! daemon holds, with its `scale` and `stop` overrides) and the stack file's resolved stack.
//! It lists the services and jobs added, removed, changed (each changed key with its old and
//! new value) and scaled, and the instances that would be created, replaced, removed or
//! started again. It reads nothing and changes nothing, so `orco apply --dry-run` can print it
//! and `orco apply` can print the same summary after applying.
//!
//! - `diff.rs`: key-by-key comparison of two values of the stack file's model.
//! - `plan.rs`: the plan's types and [`plan`] itself.

mod diff;
mod plan;

pub use diff::{FieldChange, diff};
pub use plan::{Action, Kind, Plan, Running, WorkloadPlan, plan};
