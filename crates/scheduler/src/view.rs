//! The scheduler's working copy of a snapshot: free resources and indexes, updated per placement.

use std::collections::{BTreeMap, BTreeSet};

use crate::hash::FastMap;
use crate::model::{Effect, NodeStatus, Resources, Snapshot, SpreadBy};
use crate::why::{Filter, Rejections};

/// A workload's constraints with names resolved to workload indices.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// The anchor's index; `Some(None)` when the anchor names no known workload.
    pub(crate) anchor: Option<Option<u32>>,
    /// antiAffinity targets that exist.
    pub(crate) anti: Vec<u32>,
    /// Workloads whose antiAffinity names this one (the symmetric side).
    pub(crate) anti_of: Vec<u32>,
}

/// Instances of one workload per topology domain, for its spread.
#[derive(Debug)]
pub(crate) struct SpreadState {
    /// Each node's domain; `NONE` when the node is in none (not eligible, or no such label).
    domain_of: Vec<u32>,
    counts: Vec<u32>,
    /// `hist[c]`: how many domains hold `c` instances.
    hist: Vec<u32>,
    min: u32,
}

const NONE: u32 = u32::MAX;

impl SpreadState {
    /// The count in `node`'s domain and the emptiest domain's count.
    pub(crate) fn at(&self, node: usize) -> Option<(u32, u32)> {
        let d = *self.domain_of.get(node)?;
        (d != NONE).then(|| (self.counts[d as usize], self.min))
    }

    fn add(&mut self, node: usize) {
        let Some(&d) = self.domain_of.get(node) else {
            return;
        };
        if d == NONE {
            return;
        }
        let c = self.counts[d as usize];
        self.counts[d as usize] = c + 1;
        self.hist[c as usize] -= 1;
        if self.hist.len() <= c as usize + 1 {
            self.hist.push(0);
        }
        self.hist[c as usize + 1] += 1;
        while self.hist.get(self.min as usize) == Some(&0) {
            self.min += 1;
        }
    }
}

/// The working view.
#[derive(Debug)]
pub(crate) struct View<'a> {
    pub(crate) snap: &'a Snapshot,
    pub(crate) free: Vec<Resources>,
    /// Ready and not cordoned.
    pub(crate) schedulable: Vec<bool>,
    /// Schedulable nodes by (free memory, free cpu, index).
    pub(crate) by_free: BTreeSet<(u64, u64, u32)>,
    /// Instances per (workload, node).
    counts: FastMap<(u32, u32), u32>,
    /// Nodes of each workload with their instance counts.
    pub(crate) nodes_of: Vec<BTreeMap<u32, u32>>,
    /// Whether some instance of each workload is ready.
    pub(crate) ready_anywhere: Vec<bool>,
    /// Whether each workload has any instance placed.
    pub(crate) placed_any: Vec<bool>,
    pub(crate) resolved: Vec<Resolved>,
    /// Host ports taken per node.
    ports: FastMap<(u32, u16), ()>,
    /// Schedulable nodes per label `(key, value)`.
    pub(crate) label_index: FastMap<(&'a str, &'a str), Vec<u32>>,
    pub(crate) spread: FastMap<u32, SpreadState>,
}

impl<'a> View<'a> {
    pub(crate) fn new(snap: &'a Snapshot) -> View<'a> {
        let n_nodes = snap.nodes.len();
        let n_work = snap.workloads.len();
        let schedulable: Vec<bool> = snap
            .nodes
            .iter()
            .map(|n| n.status == NodeStatus::Ready && !n.cordoned)
            .collect();
        let mut view = View {
            snap,
            free: snap.nodes.iter().map(|n| n.allocatable).collect(),
            schedulable,
            by_free: BTreeSet::new(),
            counts: FastMap::default(),
            nodes_of: vec![BTreeMap::new(); n_work],
            ready_anywhere: vec![false; n_work],
            placed_any: vec![false; n_work],
            resolved: Vec::with_capacity(n_work),
            ports: FastMap::default(),
            label_index: FastMap::default(),
            spread: FastMap::default(),
        };
        view.resolve_names();
        for (i, node) in snap.nodes.iter().enumerate() {
            if view.schedulable[i] {
                for (k, v) in &node.labels {
                    view.label_index
                        .entry((k.as_str(), v.as_str()))
                        .or_default()
                        .push(i as u32);
                }
            }
        }
        for p in &snap.placed {
            if p.node < n_nodes && p.workload < n_work {
                view.occupy(p.workload as u32, p.node);
                if p.ready {
                    view.ready_anywhere[p.workload] = true;
                }
            }
        }
        for i in 0..n_nodes {
            if view.schedulable[i] {
                view.by_free
                    .insert((view.free[i].memory, view.free[i].cpu_millis, i as u32));
            }
        }
        view.init_spreads();
        view
    }

    fn resolve_names(&mut self) {
        let snap = self.snap;
        let mut by_name: FastMap<(&str, &str), u32> = FastMap::default();
        for (i, w) in snap.workloads.iter().enumerate() {
            by_name.insert((w.id.stack.as_str(), w.id.name.as_str()), i as u32);
        }
        let mut anti_of: Vec<Vec<u32>> = vec![Vec::new(); snap.workloads.len()];
        for (i, w) in snap.workloads.iter().enumerate() {
            let find = |name: &str| by_name.get(&(w.id.stack.as_str(), name)).copied();
            let anchor = w.placement.anchor.as_deref().map(find);
            let mut anti: Vec<u32> = w
                .placement
                .anti_affinity
                .iter()
                .filter_map(|n| find(n))
                .collect();
            anti.sort_unstable();
            anti.dedup();
            for &a in &anti {
                if a != i as u32 {
                    anti_of[a as usize].push(i as u32);
                }
            }
            self.resolved.push(Resolved {
                anchor,
                anti,
                anti_of: Vec::new(),
            });
        }
        for (r, mut of) in self.resolved.iter_mut().zip(anti_of) {
            of.sort_unstable();
            of.dedup();
            r.anti_of = of;
        }
    }

    fn init_spreads(&mut self) {
        let snap = self.snap;
        for (wid, w) in snap.workloads.iter().enumerate() {
            let Some(spread) = &w.placement.spread else {
                continue;
            };
            let mut values: FastMap<&str, u32> = FastMap::default();
            let mut domains = 0u32;
            let domain_of: Vec<u32> = snap
                .nodes
                .iter()
                .enumerate()
                .map(|(i, node)| {
                    let eligible = self.schedulable[i]
                        && self.selector_matches(wid, i)
                        && self.untolerated(wid, i).is_none();
                    if !eligible {
                        return NONE;
                    }
                    match &spread.by {
                        SpreadBy::Node => {
                            domains += 1;
                            domains - 1
                        }
                        SpreadBy::Label(key) => match node.labels.get(key) {
                            None => NONE,
                            Some(v) => *values.entry(v.as_str()).or_insert_with(|| {
                                domains += 1;
                                domains - 1
                            }),
                        },
                    }
                })
                .collect();
            let mut counts = vec![0u32; domains as usize];
            if let Some(nodes) = self.nodes_of.get(wid) {
                for (&node, &c) in nodes {
                    let d = domain_of[node as usize];
                    if d != NONE {
                        counts[d as usize] += c;
                    }
                }
            }
            let top = counts.iter().copied().max().unwrap_or(0) as usize;
            let mut hist = vec![0u32; top + 2];
            for &c in &counts {
                hist[c as usize] += 1;
            }
            let min = counts.iter().copied().min().unwrap_or(0);
            self.spread.insert(
                wid as u32,
                SpreadState {
                    domain_of,
                    counts,
                    hist,
                    min,
                },
            );
        }
    }

    /// Counts an instance of `wid` on `node`: its requests, ports and the indexes.
    fn occupy(&mut self, wid: u32, node: usize) {
        let w = &self.snap.workloads[wid as usize];
        self.free[node] = self.free[node].saturating_sub(&w.requests);
        *self.counts.entry((wid, node as u32)).or_default() += 1;
        *self.nodes_of[wid as usize].entry(node as u32).or_default() += 1;
        self.placed_any[wid as usize] = true;
        for &p in &w.host_ports {
            self.ports.insert((node as u32, p), ());
        }
    }

    /// Places an instance of `wid` on `node` and updates every index.
    pub(crate) fn place(&mut self, wid: u32, node: usize) {
        let key = (
            self.free[node].memory,
            self.free[node].cpu_millis,
            node as u32,
        );
        let indexed = self.by_free.remove(&key);
        self.occupy(wid, node);
        if indexed {
            self.by_free.insert((
                self.free[node].memory,
                self.free[node].cpu_millis,
                node as u32,
            ));
        }
        if let Some(s) = self.spread.get_mut(&wid) {
            s.add(node);
        }
    }

    /// Instances of `wid` on `node`.
    pub(crate) fn count(&self, wid: u32, node: usize) -> u32 {
        self.counts.get(&(wid, node as u32)).copied().unwrap_or(0)
    }

    pub(crate) fn selector_matches(&self, wid: usize, node: usize) -> bool {
        let labels = &self.snap.nodes[node].labels;
        self.snap.workloads[wid]
            .placement
            .node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }

    /// The first taint of `node` that `wid` does not tolerate.
    pub(crate) fn untolerated(&self, wid: usize, node: usize) -> Option<usize> {
        let tolerations = &self.snap.workloads[wid].placement.tolerations;
        self.snap.nodes[node].taints.iter().position(|t| {
            !tolerations
                .iter()
                .any(|tol| tol.tolerates(&t.key, &t.value))
        })
    }

    /// The first filter that rejects an instance of `wid` on `node`, noting what it found
    /// in `notes` when given (for the explanation).
    pub(crate) fn check(
        &self,
        wid: u32,
        node: usize,
        mut notes: Option<&mut Rejections>,
    ) -> Result<(), Filter> {
        let snap = self.snap;
        let n = &snap.nodes[node];
        let w = &snap.workloads[wid as usize];
        let r = &self.resolved[wid as usize];
        if n.status != NodeStatus::Ready {
            return Err(Filter::NotReady);
        }
        if n.cordoned {
            return Err(Filter::Cordoned);
        }
        let free = self.free[node];
        if let Some(notes) = notes.as_deref_mut() {
            notes.most_free.cpu_millis = notes.most_free.cpu_millis.max(free.cpu_millis);
            notes.most_free.memory = notes.most_free.memory.max(free.memory);
        }
        if w.requests.cpu_millis > free.cpu_millis {
            return Err(Filter::Cpu);
        }
        if w.requests.memory > free.memory {
            return Err(Filter::Memory);
        }
        if !self.selector_matches(wid as usize, node) {
            return Err(Filter::NodeSelector);
        }
        if let Some(t) = self.untolerated(wid as usize, node) {
            if let Some(notes) = notes.as_deref_mut() {
                notes.taint.get_or_insert_with(|| n.taints[t].clone());
            }
            return Err(Filter::Taint);
        }
        if r.anti.iter().any(|&a| self.count(a, node) > 0)
            || r.anti_of.iter().any(|&a| self.count(a, node) > 0)
        {
            return Err(Filter::AntiAffinity);
        }
        if let Some(anchor) = r.anchor {
            let here = anchor.is_some_and(|a| self.count(a, node) > 0);
            if !here {
                return Err(Filter::Anchor);
            }
        }
        if let Some(spread) = w.placement.spread.as_ref().filter(|s| s.hard) {
            let fits = self
                .spread
                .get(&wid)
                .and_then(|s| s.at(node))
                .is_some_and(|(here, min)| here + 1 - min <= spread.max_skew);
            if !fits {
                return Err(Filter::Spread);
            }
        }
        if let Some(&p) = w
            .host_ports
            .iter()
            .find(|&&p| self.ports.contains_key(&(node as u32, p)))
        {
            if let Some(notes) = notes {
                notes.port.get_or_insert(p);
            }
            return Err(Filter::Port);
        }
        Ok(())
    }

    /// Whether `node` now runs an instance that a NoExecute taint keeps away from `wid`.
    pub(crate) fn no_execute_untolerated(&self, wid: usize, node: usize) -> bool {
        let tolerations = &self.snap.workloads[wid].placement.tolerations;
        self.snap.nodes[node].taints.iter().any(|t| {
            t.effect == Effect::NoExecute
                && !tolerations.iter().any(|x| x.tolerates(&t.key, &t.value))
        })
    }
}
