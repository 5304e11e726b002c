//! Why an instance fits nowhere: every node counted under the first filter that rejected it.

use std::fmt;

use crate::model::{Resources, Taint};
use crate::quantity::{format_cpu, format_memory};

/// The filters, in the order they are applied to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Filter {
    /// The node is not `ready` (unreachable, lost or left).
    NotReady,
    /// The node is cordoned.
    Cordoned,
    /// Not enough free cpu (allocatable minus the requests of placed instances).
    Cpu,
    /// Not enough free memory.
    Memory,
    /// A `nodeSelector` label does not match.
    NodeSelector,
    /// A taint is not tolerated.
    Taint,
    /// The node runs a workload this one must not share a node with (either way round).
    AntiAffinity,
    /// The node runs no instance of the anchor.
    Anchor,
    /// A hard spread's `maxSkew` would be exceeded (or the node is in no spread domain).
    Spread,
    /// A host port the instance needs is taken on the node.
    Port,
}

impl Filter {
    /// Every filter, in order.
    pub const ALL: [Filter; 10] = [
        Filter::NotReady,
        Filter::Cordoned,
        Filter::Cpu,
        Filter::Memory,
        Filter::NodeSelector,
        Filter::Taint,
        Filter::AntiAffinity,
        Filter::Anchor,
        Filter::Spread,
        Filter::Port,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Per filter, how many nodes it rejected, with what a person needs to act on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    /// Nodes in the snapshot.
    pub nodes: u32,
    pub(crate) counts: [u32; 10],
    /// What one instance requests.
    pub need: Resources,
    /// The most free cpu and memory among the ready, uncordoned nodes.
    pub most_free: Resources,
    /// The node selector, as `k=v,k=v`.
    pub selector: String,
    /// The first taint found untolerated.
    pub taint: Option<Taint>,
    /// The anchor's name.
    pub anchor: Option<String>,
    /// The spread, as `maxSkew 1 by zone`.
    pub spread: Option<String>,
    /// The first host port found taken.
    pub port: Option<u16>,
}

impl Rejections {
    /// How many nodes `filter` rejected.
    pub fn count(&self, filter: Filter) -> u32 {
        self.counts[filter.index()]
    }

    pub(crate) fn add(&mut self, filter: Filter) {
        self.counts[filter.index()] += 1;
    }
}

/// Why an instance stays pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// A follower's first instance waits until an instance of its anchor is ready somewhere.
    AnchorNotReady {
        /// The anchor's name.
        anchor: String,
    },
    /// The instance's workload index is not in the snapshot.
    UnknownWorkload,
    /// Every node was rejected by a filter.
    NoNodeFits(Rejections),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::AnchorNotReady { anchor } => {
                write!(f, "waiting for an instance of anchor {anchor} to be ready")
            }
            Why::UnknownWorkload => f.write_str("its workload is unknown to the scheduler"),
            Why::NoNodeFits(r) if r.nodes == 0 => f.write_str("0 nodes: no node has joined"),
            Why::NoNodeFits(r) => {
                write!(f, "0/{} nodes fit (", r.nodes)?;
                let mut first = true;
                for filter in Filter::ALL {
                    let n = r.count(filter);
                    if n == 0 {
                        continue;
                    }
                    if !first {
                        f.write_str("; ")?;
                    }
                    first = false;
                    write!(f, "{n} ")?;
                    match filter {
                        Filter::NotReady => f.write_str("not ready")?,
                        Filter::Cordoned => f.write_str("cordoned")?,
                        Filter::Cpu => write!(
                            f,
                            "lack cpu: need {}, most free {}",
                            format_cpu(r.need.cpu_millis),
                            format_cpu(r.most_free.cpu_millis)
                        )?,
                        Filter::Memory => write!(
                            f,
                            "lack memory: need {}, most free {}",
                            format_memory(r.need.memory),
                            format_memory(r.most_free.memory)
                        )?,
                        Filter::NodeSelector => {
                            write!(f, "excluded by nodeSelector {}", r.selector)?
                        }
                        Filter::Taint => match &r.taint {
                            Some(t) => write!(f, "tainted {t}, not tolerated")?,
                            None => f.write_str("tainted, not tolerated")?,
                        },
                        Filter::AntiAffinity => f.write_str("excluded by antiAffinity")?,
                        Filter::Anchor => match &r.anchor {
                            Some(a) => write!(f, "run no instance of anchor {a}")?,
                            None => f.write_str("run no instance of the anchor")?,
                        },
                        Filter::Spread => match &r.spread {
                            Some(s) => write!(f, "would break spread {s}")?,
                            None => f.write_str("would break the spread")?,
                        },
                        Filter::Port => match r.port {
                            Some(p) => write!(f, "have host port {p} taken")?,
                            None => f.write_str("have a host port taken")?,
                        },
                    }
                }
                f.write_str(")")
            }
        }
    }
}

/// A placement's node selector as `k=v,k=v`.
pub(crate) fn selector_text(placement: &crate::model::Placement) -> String {
    placement
        .node_selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
