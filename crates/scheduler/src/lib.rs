//! `orco-scheduler`: which node each pending instance goes to, a pure function of a snapshot.
//!
//! - [`model`]: what the scheduler reads — nodes (allocatable, labels, taints, status), the
//!   workloads (requests and `placement` constraints) and the instances already placed.
//! - [`schedule`](schedule()): filters, then ranking, one pending instance at a time, the
//!   snapshot updated after each placement; every instance that fits nowhere gets a
//!   [`Why`] counted per filter.
//! - [`violations`]: placed instances whose placement no longer holds (placement repair).
//! - [`edit_labels`], [`edit_taints`]: `orco node label|taint`'s edits, checked.
//! - [`anchor_labels`]: the derived `orco.anchor/STACK.SERVICE=true` node labels.
//!
//! No IO, no clock, no randomness beyond the seed: the same snapshot, pending list and seed
//! always give the same decisions.

pub mod model;

mod edit;

mod hash;
mod quantity;
mod repair;
mod schedule;
mod view;
mod why;

pub use edit::{edit_labels, edit_taints};
pub use model::{
    Effect, Node, NodeStatus, Pending, Placed, Placement, Resources, Snapshot, Spread, SpreadBy,
    Strategy, Taint, Toleration, Workload, WorkloadRef,
};
pub use quantity::{format_cpu, format_memory};
pub use repair::{Violation, ViolationReason, anchor_labels, violations};
pub use schedule::{Decision, schedule};
pub use why::{Filter, Rejections, Why};
