//! Compose's resource and placement keys: `cpus`, `mem_limit`, `mem_reservation`,
//! `deploy.resources`, `deploy.placement` and `deploy.replicas`-adjacent hints, as orco's
//! `resources` and `placement`.

use orco_spec::node::{Node, Value};
use orco_spec::{Cpu, Memory, Service, Spread, SpreadBy};

use super::{Converter, entries, key_text};

impl Converter<'_> {
    /// Records where `orco` came from unless an earlier key already did (`cpus` and
    /// `mem_limit` both make `resources`: its diagnostics point at the first).
    pub(super) fn site_once(&mut self, orco: String, node: &Node, compose: &str) {
        if !self.sites.iter().any(|(o, ..)| *o == orco) {
            self.site(orco, node, compose);
        }
    }

    /// `cpus: 1.5` (a limit, as `docker run --cpus`).
    pub(super) fn compose_cpus(&mut self, node: &Node, path: &str) -> Option<Cpu> {
        let text = self.text(node, path)?;
        match text.trim().parse::<Cpu>() {
            Ok(c) => Some(c),
            Err(e) => {
                self.error(node, path, format!("bad cpus: {e}"), e.hint());
                None
            }
        }
    }

    /// A compose size: bytes, or a number with `b`, `k`, `m`, `g` (binary, as docker reads
    /// them; `kb`, `mb`, `gb` too, any case).
    pub(super) fn compose_memory(&mut self, node: &Node, path: &str) -> Option<Memory> {
        let text = self.text(node, path)?;
        match docker_size(text.trim()) {
            Some(bytes) => Some(Memory(bytes)),
            None => {
                self.error(
                    node,
                    path,
                    format!("`{text}` is not a size"),
                    Some("write e.g. `512m` or `1g` (k, m, g are binary, as in docker)".into()),
                );
                None
            }
        }
    }

    /// `deploy.resources: {limits: {cpus, memory}, reservations: {cpus, memory}}`.
    pub(super) fn deploy_resources(&mut self, s: &mut Service, node: &Node, path: &str) {
        for (k, v) in entries(node) {
            let kp = format!("{path}.{}", key_text(k));
            let limits = match key_text(k).as_str() {
                "limits" => true,
                "reservations" => false,
                _ => {
                    self.unsupported(k, &kp, "");
                    continue;
                }
            };
            for (rk, rv) in entries(v) {
                let rp = format!("{kp}.{}", key_text(rk));
                match (key_text(rk).as_str(), limits) {
                    ("cpus", true) => s.resources.limits.cpu = self.compose_cpus(rv, &rp),
                    ("memory", true) => s.resources.limits.memory = self.compose_memory(rv, &rp),
                    ("cpus", false) => {
                        if let Some(c) = self.compose_cpus(rv, &rp) {
                            s.resources.cpu = c;
                        }
                    }
                    ("memory", false) => {
                        if let Some(m) = self.compose_memory(rv, &rp) {
                            s.resources.memory = m;
                        }
                    }
                    _ => self.unsupported(rk, &rp, ""),
                }
            }
        }
    }

    /// `deploy.placement: {constraints: [node.labels.K==V], preferences: [{spread:
    /// node.labels.K}], max_replicas_per_node: 1}`.
    pub(super) fn deploy_placement(
        &mut self,
        s: &mut Service,
        name: &str,
        node: &Node,
        path: &str,
    ) {
        for (k, v) in entries(node) {
            let kp = format!("{path}.{}", key_text(k));
            match key_text(k).as_str() {
                "constraints" => {
                    let Value::Seq(items) = &v.value else {
                        self.error(v, &kp, "expected a list of constraints".into(), None);
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        let ip = format!("{kp}[{i}]");
                        let Some(text) = self.text(item, &ip) else {
                            continue;
                        };
                        match label_constraint(&text) {
                            Some((label, value)) => {
                                s.placement.node_selector.insert(label, value);
                            }
                            None => self.warn(
                                item,
                                &ip,
                                format!("constraint `{text}` is not supported by orco and is ignored: only `node.labels.KEY==VALUE` is"),
                                Some("label the nodes and select them by label".into()),
                            ),
                        }
                    }
                }
                "preferences" => {
                    let Value::Seq(items) = &v.value else {
                        self.error(v, &kp, "expected a list of preferences".into(), None);
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        let ip = format!("{kp}[{i}]");
                        let label = item
                            .get("spread")
                            .and_then(Node::scalar_text)
                            .and_then(|t| t.strip_prefix("node.labels.").map(str::to_string));
                        match label {
                            Some(label) if s.placement.spread.is_none() => {
                                s.placement.spread = Some(Spread {
                                    by: SpreadBy::Label(label),
                                    max_skew: 1,
                                    hard: false,
                                });
                            }
                            _ => self.warn(
                                item,
                                &ip,
                                "only one preference `spread: node.labels.KEY` is supported by orco; this one is ignored".into(),
                                None,
                            ),
                        }
                    }
                }
                "max_replicas_per_node" => match self.count(v, &kp) {
                    Some(1) => s.placement.anti_affinity = vec![name.to_string()],
                    Some(_) => self.warn(
                        v,
                        &kp,
                        "only `max_replicas_per_node: 1` is supported by orco (as antiAffinity on the service itself); this one is ignored".into(),
                        None,
                    ),
                    None => {}
                },
                _ => self.unsupported(k, &kp, ""),
            }
        }
    }
}

/// `node.labels.KEY==VALUE` (spaces allowed around `==`) → (KEY, VALUE).
fn label_constraint(text: &str) -> Option<(String, String)> {
    let (left, right) = text.split_once("==")?;
    let label = left.trim().strip_prefix("node.labels.")?;
    let value = right.trim();
    (!label.is_empty() && !value.is_empty()).then(|| (label.to_string(), value.to_string()))
}

/// Docker's size syntax: a number with an optional unit `b`, `k`, `m`, `g` (or `kb`, `mb`,
/// `gb`), any case; units are binary.
fn docker_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let size: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    let bytes = value * size as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_sizes_are_binary_in_any_case() {
        assert_eq!(docker_size("512m"), Some(512 << 20));
        assert_eq!(docker_size("1G"), Some(1 << 30));
        assert_eq!(docker_size("64MB"), Some(64 << 20));
        assert_eq!(docker_size("1000"), Some(1000));
        assert_eq!(docker_size("1.5g"), Some(3 << 29));
        assert_eq!(docker_size("12 parsecs"), None);
    }

    #[test]
    fn only_label_constraints_become_node_selectors() {
        assert_eq!(
            label_constraint("node.labels.disk == ssd"),
            Some(("disk".into(), "ssd".into()))
        );
        assert_eq!(label_constraint("node.role==manager"), None);
        assert_eq!(label_constraint("node.labels.disk!=ssd"), None);
    }
}
