//! The dependency graph of a stack: topological order, start layers and cycles.
//!
//! A [`Graph`] holds named nodes and "depends on" edges. Everything is deterministic: ties are
//! broken by name, so the same stack always gives the same order, layers and cycle path.

use std::collections::{BTreeMap, BTreeSet};

/// A directed graph of named nodes; an edge `a → b` means "a depends on b" (b starts first).
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// node → the nodes it depends on.
    deps: BTreeMap<String, BTreeSet<String>>,
}

/// A dependency cycle, as the path `a → b → … → a` (each depends on the next).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle: {}", self.path.join(" -> "))]
pub struct Cycle {
    /// The nodes of the cycle; the first is repeated at the end.
    pub path: Vec<String>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Adds a node (idempotent).
    pub fn add_node(&mut self, name: impl Into<String>) {
        self.deps.entry(name.into()).or_default();
    }

    /// Adds "`from` depends on `to`", adding both nodes.
    pub fn add_edge(&mut self, from: impl Into<String>, to: impl Into<String>) {
        let to = to.into();
        self.add_node(to.clone());
        self.deps.entry(from.into()).or_default().insert(to);
    }

    /// The nodes, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.deps.keys().map(String::as_str)
    }

    /// What `node` depends on, by name.
    pub fn dependencies<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.deps
            .get(node)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// What depends on `node`, by name.
    pub fn dependents<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.deps
            .iter()
            .filter(move |(_, d)| d.contains(node))
            .map(|(n, _)| n.as_str())
    }

    /// Every edge as (dependent, dependency).
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.deps
            .iter()
            .flat_map(|(n, ds)| ds.iter().map(move |d| (n.as_str(), d.as_str())))
    }

    /// Start layers: layer 0 has no dependencies; each node sits one layer above its deepest
    /// dependency. Nodes of one layer may start in parallel. Stop in reverse.
    pub fn layers(&self) -> Result<Vec<Vec<String>>, Cycle> {
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        for node in self.order()? {
            let d = self
                .dependencies(&node)
                .map(|dep| depth.get(dep).map_or(0, |x| x + 1))
                .max()
                .unwrap_or(0);
            if let Some(key) = self
                .deps
                .get_key_value(node.as_str())
                .map(|(k, _)| k.as_str())
            {
                depth.insert(key, d);
            }
        }
        let mut layers: Vec<Vec<String>> = Vec::new();
        for (node, d) in depth {
            if layers.len() <= d {
                layers.resize_with(d + 1, Vec::new);
            }
            layers[d].push(node.to_string());
        }
        Ok(layers)
    }

    /// A topological order: every node after all of its dependencies (Kahn's algorithm,
    /// smallest name first among the ready ones).
    pub fn order(&self) -> Result<Vec<String>, Cycle> {
        let mut missing: BTreeMap<&str, usize> = self
            .deps
            .iter()
            .map(|(n, d)| (n.as_str(), d.len()))
            .collect();
        let mut ready: BTreeSet<&str> = missing
            .iter()
            .filter(|(_, c)| **c == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (n, d) in self.edges() {
            dependents.entry(d).or_default().push(n);
        }
        let mut out = Vec::with_capacity(self.deps.len());
        while let Some(node) = ready.pop_first() {
            out.push(node.to_string());
            for &dep in dependents.get(node).into_iter().flatten() {
                if let Some(count) = missing.get_mut(dep) {
                    *count -= 1;
                    if *count == 0 {
                        ready.insert(dep);
                    }
                }
            }
        }
        if out.len() == self.deps.len() {
            Ok(out)
        } else {
            let stuck: BTreeSet<&str> = missing
                .iter()
                .filter(|(_, c)| **c > 0)
                .map(|(n, _)| *n)
                .collect();
            Err(self.cycle_among(&stuck))
        }
    }

    /// The first cycle, if any.
    pub fn find_cycle(&self) -> Option<Cycle> {
        self.order().err()
    }

    /// Finds a real cycle among nodes Kahn's algorithm could not order. Every such node has a
    /// dependency that is also stuck, so walking "first stuck dependency" must revisit a node.
    fn cycle_among(&self, stuck: &BTreeSet<&str>) -> Cycle {
        let Some(&start) = stuck.first() else {
            return Cycle { path: Vec::new() };
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut node = start;
        loop {
            if let Some(pos) = seen.iter().position(|n| *n == node) {
                let mut path: Vec<String> = seen[pos..].iter().map(|s| s.to_string()).collect();
                path.push(node.to_string());
                return Cycle { path };
            }
            seen.push(node);
            match self.dependencies(node).find(|d| stuck.contains(d)) {
                Some(next) => node = next,
                None => return Cycle { path: Vec::new() },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::new();
        for (a, b) in edges {
            g.add_edge(*a, *b);
        }
        g
    }

    #[test]
    fn the_seed_chain_starts_db_then_api_then_web() {
        let g = graph(&[("api", "db"), ("web", "api")]);
        assert_eq!(g.order().unwrap(), ["db", "api", "web"]);
        assert_eq!(
            g.layers().unwrap(),
            vec![vec!["db"], vec!["api"], vec!["web"]]
        );
    }

    #[test]
    fn independent_nodes_share_a_layer() {
        let g = graph(&[("api", "db"), ("api", "cache"), ("worker", "db")]);
        assert_eq!(
            g.layers().unwrap(),
            vec![vec!["cache", "db"], vec!["api", "worker"]]
        );
    }

    #[test]
    fn a_cycle_is_reported_with_its_path() {
        let g = graph(&[
            ("alpha", "gamma"),
            ("gamma", "beta"),
            ("beta", "alpha"),
            ("x", "alpha"),
        ]);
        let cycle = g.order().unwrap_err();
        assert_eq!(
            cycle.to_string(),
            "dependency cycle: alpha -> gamma -> beta -> alpha"
        );
    }

    #[test]
    fn a_self_loop_is_a_cycle() {
        let g = graph(&[("a", "a")]);
        assert_eq!(g.find_cycle().unwrap().path, ["a", "a"]);
    }

    /// Random DAGs: edges only go from a higher index to a lower one.
    fn dag() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
        (1usize..40).prop_flat_map(|n| {
            let edges = proptest::collection::vec((0..n, 0..n), 0..(n * 3));
            (
                Just(n),
                edges.prop_map(|es| {
                    es.into_iter()
                        .filter(|(a, b)| a != b)
                        .map(|(a, b)| (a.max(b), a.min(b)))
                        .collect()
                }),
            )
        })
    }

    fn build(n: usize, edges: &[(usize, usize)]) -> Graph {
        let mut g = Graph::new();
        for i in 0..n {
            g.add_node(format!("n{i}"));
        }
        for (a, b) in edges {
            g.add_edge(format!("n{a}"), format!("n{b}"));
        }
        g
    }

    proptest! {
        #[test]
        fn the_order_respects_every_edge((n, edges) in dag()) {
            let g = build(n, &edges);
            let order = g.order().unwrap();
            prop_assert_eq!(order.len(), n);
            let pos = |x: &str| order.iter().position(|o| o == x).unwrap();
            for (a, b) in g.edges() {
                prop_assert!(pos(b) < pos(a), "{} must come before {}", b, a);
            }
            let layers = g.layers().unwrap();
            let layer = |x: &str| layers.iter().position(|l| l.iter().any(|o| o == x)).unwrap();
            for (a, b) in g.edges() {
                prop_assert!(layer(b) < layer(a));
            }
        }

        #[test]
        fn a_graph_with_a_cycle_reports_a_real_cycle(
            (n, edges) in dag(),
            back in proptest::collection::vec((0usize..40, 0usize..40), 1..4),
        ) {
            let mut g = build(n, &edges);
            // Close a cycle: a path a -> ... -> b exists when b = a, or via a back edge b -> a.
            let (a, b) = (back[0].0 % n, back[0].1 % n);
            g.add_edge(format!("n{}", a.min(b)), format!("n{}", a.max(b)));
            g.add_edge(format!("n{}", a.max(b)), format!("n{}", a.min(b)));
            let cycle = g.find_cycle().expect("a cycle was added");
            prop_assert!(cycle.path.len() >= 2);
            prop_assert_eq!(cycle.path.first(), cycle.path.last());
            for w in cycle.path.windows(2) {
                prop_assert!(g.dependencies(&w[0]).any(|d| d == w[1]), "{} -> {} is no edge", w[0], w[1]);
            }
        }
    }
}
