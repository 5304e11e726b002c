//! Reading `resources`, `placement` and `onDisconnect` of services, jobs and tasks.

use super::{Cx, Names, join, keys, suggest};
use crate::model::{Cpu, Limits, Memory, OnDisconnect, Placement, Resources, Spread, Strategy};
use crate::node::{Node, Value};
use crate::resources::{QuantityError, SpreadBy, Toleration};

/// A resource quantity a limit is given in ([`Cpu`], [`Memory`]).
trait Quantity: Copy + Default + PartialOrd + std::fmt::Display {
    /// What a limit of 0 would do, said after "a cpu limit of 0".
    const ZERO_LIMIT: &'static str;
}

impl Quantity for Cpu {
    const ZERO_LIMIT: &'static str = "would never let an instance run";
}

impl Quantity for Memory {
    const ZERO_LIMIT: &'static str = "would kill every instance at once";
}

impl Cx<'_> {
    /// The `resources` and `placement` of a service, job or task (defaults when absent);
    /// `None` for one that is invalid (its problems are reported).
    pub(super) fn resources_and_placement(
        &mut self,
        f: &super::Fields<'_>,
        path: &str,
        own: &str,
        names: &Names,
    ) -> (Option<Resources>, Option<Placement>) {
        let resources = match f.get("resources") {
            Some(v) => self.resources(v, &join(path, "resources")),
            None => Some(Resources::default()),
        };
        let placement = match f.get("placement") {
            Some(v) => self.placement(v, &join(path, "placement"), own, names),
            None => Some(Placement::default()),
        };
        (resources, placement)
    }

    /// `resources:` — requests and limits, each limit at least its request.
    pub(super) fn resources(&mut self, n: &Node, path: &str) -> Option<Resources> {
        let f = self.fields(n, path, "`resources`", keys::RESOURCES)?;
        let cpu = f.get("cpu").map(|v| self.cpu(v, &join(path, "cpu")));
        let memory = f
            .get("memory")
            .map(|v| self.memory(v, &join(path, "memory")));
        let lpath = join(path, "limits");
        let limits = match f.get("limits") {
            Some(v) => {
                let lf = self.fields(v, &lpath, "`resources.limits`", keys::LIMITS)?;
                let cpu_limit = self.limit(&lf, &lpath, "cpu", cpu, Self::cpu);
                let memory_limit = self.limit(&lf, &lpath, "memory", memory, Self::memory);
                Limits {
                    cpu: cpu_limit?,
                    memory: memory_limit?,
                }
            }
            None => Limits::default(),
        };
        Some(Resources {
            cpu: cpu.unwrap_or(Some(Cpu(0)))?,
            memory: memory.unwrap_or(Some(Memory(0)))?,
            limits,
        })
    }

    /// The limit `key` (`cpu` or `memory`) of `resources.limits` (`lf` at `lpath`): `Some(None)`
    /// when absent, `None` when invalid. A limit is at least its `request`, and not 0 (that
    /// would keep every instance from running).
    fn limit<T: Quantity>(
        &mut self,
        lf: &super::Fields<'_>,
        lpath: &str,
        key: &str,
        request: Option<Option<T>>,
        read: fn(&mut Self, &Node, &str) -> Option<T>,
    ) -> Option<Option<T>> {
        let Some(at) = lf.get(key) else {
            return Some(None);
        };
        let path = join(lpath, key);
        let limit = read(self, at, &path)?;
        if let Some(Some(request)) = request
            && limit < request
        {
            self.error(
                at,
                &path,
                format!("the {key} limit {limit} is below the request {request}"),
                Some(format!("raise `limits.{key}`, or lower `{key}`")),
            );
            return None;
        }
        if limit == T::default() {
            self.error(
                at,
                &path,
                format!("a {key} limit of 0 {}", T::ZERO_LIMIT),
                Some(format!("remove `limits.{key}` for no limit")),
            );
            return None;
        }
        Some(Some(limit))
    }

    fn quantity<T: std::str::FromStr<Err = QuantityError>>(
        &mut self,
        n: &Node,
        path: &str,
        what: &str,
    ) -> Option<T> {
        let text = match &n.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) | Value::Float(_) => n.scalar_text().unwrap_or_default(),
            _ => {
                self.type_error(n, path, what);
                return None;
            }
        };
        match text.parse::<T>() {
            Ok(q) => Some(q),
            Err(e) => {
                let hint = e.hint();
                self.error(n, path, format!("bad `{path}`: {e}"), hint);
                None
            }
        }
    }

    fn cpu(&mut self, n: &Node, path: &str) -> Option<Cpu> {
        self.quantity(n, path, "a number of cores such as `0.5` or `500m`")
    }

    fn memory(&mut self, n: &Node, path: &str) -> Option<Memory> {
        self.quantity(n, path, "a size such as `256Mi` or `1Gi`")
    }

    /// `placement:` — names checked against the stack's workloads (`anchor` must be another
    /// service; `antiAffinity` any workload, the own name included).
    pub(super) fn placement(
        &mut self,
        n: &Node,
        path: &str,
        own: &str,
        names: &Names,
    ) -> Option<Placement> {
        let f = self.fields(n, path, "`placement`", keys::PLACEMENT)?;
        let mut ok = true;
        let node_selector = f
            .get("nodeSelector")
            .map(|v| self.string_map(v, &join(path, "nodeSelector"), "label"))
            .unwrap_or_default();
        let anchor = match f.get("anchor") {
            Some(v) => {
                let apath = join(path, "anchor");
                match self.nonempty_string(v, &apath) {
                    Some(a) if a == own => {
                        self.error(
                            v,
                            &apath,
                            format!("`{own}` cannot be its own anchor"),
                            Some("name another service of this stack".into()),
                        );
                        ok = false;
                        None
                    }
                    Some(a) if !self.is_service(&a, names) => {
                        let hint = suggest(&a, names.kinds.keys().map(String::as_str))
                            .or_else(|| Some("an anchor is a service of this stack".into()));
                        self.error(
                            v,
                            &apath,
                            format!("anchor `{a}` is not a service of this stack"),
                            hint,
                        );
                        ok = false;
                        None
                    }
                    Some(a) => Some(a),
                    None => {
                        ok = false;
                        None
                    }
                }
            }
            None => None,
        };
        let anti_affinity = match f.get("antiAffinity") {
            Some(v) => self.workload_names(v, &join(path, "antiAffinity"), names, &mut ok),
            None => Vec::new(),
        };
        let spread = match f.get("spread") {
            Some(v) => match self.spread(v, &join(path, "spread")) {
                Some(s) => Some(s),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let tolerations = match f.get("tolerations") {
            Some(v) => self.tolerations(v, &join(path, "tolerations"), &mut ok),
            None => Vec::new(),
        };
        let strategy = match f.get("strategy") {
            Some(v) => self.word(
                v,
                &join(path, "strategy"),
                &[("balance", Strategy::Balance), ("pack", Strategy::Pack)],
            ),
            None => Some(Strategy::Balance),
        };
        if !ok {
            return None;
        }
        Some(Placement {
            node_selector,
            anchor,
            anti_affinity,
            spread,
            tolerations,
            strategy: strategy?,
        })
    }

    fn is_service(&self, name: &str, names: &Names) -> bool {
        matches!(
            names.kinds.get(name),
            Some(crate::model::WorkloadKind::Service)
        )
    }

    fn workload_names(
        &mut self,
        n: &Node,
        path: &str,
        names: &Names,
        ok: &mut bool,
    ) -> Vec<String> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of workload names");
            *ok = false;
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            let Some(name) = self.nonempty_string(item, &ipath) else {
                *ok = false;
                continue;
            };
            if !names.kinds.contains_key(&name) {
                let hint = suggest(&name, names.kinds.keys().map(String::as_str));
                self.error(
                    item,
                    &ipath,
                    format!("`{name}` is not a service or job of this stack"),
                    hint,
                );
                *ok = false;
                continue;
            }
            out.push(name);
        }
        out
    }

    fn spread(&mut self, n: &Node, path: &str) -> Option<Spread> {
        let f = self.fields(n, path, "`spread`", keys::SPREAD)?;
        let by_node = self.required(&f, "by", path, "`spread`")?;
        let by = self.nonempty_string(by_node, &join(path, "by"))?;
        let max_skew = match f.get("maxSkew") {
            Some(v) => self.positive(v, &join(path, "maxSkew"), "maxSkew"),
            None => Some(1),
        };
        let hard = match f.get("hard") {
            Some(v) => self.bool(v, &join(path, "hard")),
            None => Some(false),
        };
        Some(Spread {
            by: SpreadBy::from(by.as_str()),
            max_skew: max_skew?,
            hard: hard?,
        })
    }

    fn tolerations(&mut self, n: &Node, path: &str, ok: &mut bool) -> Vec<Toleration> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list such as [gpu, zone=edge]");
            *ok = false;
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            let Some(text) = self.nonempty_string(item, &ipath) else {
                *ok = false;
                continue;
            };
            match text.parse::<Toleration>() {
                Ok(t) => out.push(t),
                Err(e) => {
                    let hint = text.contains(':').then(|| {
                        "a toleration names the taint's key (and value), not its effect".into()
                    });
                    self.error(item, &ipath, e, hint);
                    *ok = false;
                }
            }
        }
        out
    }

    /// `onDisconnect: stop | keep`.
    pub(super) fn on_disconnect(&mut self, n: &Node, path: &str) -> Option<OnDisconnect> {
        self.word(
            n,
            path,
            &[("stop", OnDisconnect::Stop), ("keep", OnDisconnect::Keep)],
        )
    }

    /// Warns, at each key of `f` this version records without acting on it: requests
    /// (nothing is placed by them on one machine; a cluster's scheduler is), limits of process workloads (enforced for docker services
    /// only), `placement` and `onDisconnect` (acted on by a cluster only: `orco daemon` runs
    /// every instance on its local node).
    pub(super) fn warn_not_acted_on(
        &mut self,
        f: &super::Fields<'_>,
        path: &str,
        resources: Option<&Resources>,
        limits_enforced: bool,
    ) {
        if let (Some(v), Some(r)) = (f.get("resources"), resources) {
            let requests = r.cpu.0 > 0 || r.memory.0 > 0;
            let limits = !r.limits.is_empty() && !limits_enforced;
            let why = match (requests, limits) {
                (true, true) => Some(
                    "requests place nothing on `orco daemon`, where every instance runs on the one local node (a cluster places by them), and limits are enforced for docker services only",
                ),
                (true, false) => Some(
                    "requests place nothing on `orco daemon`, where every instance runs on the one local node; a cluster places by them",
                ),
                (false, true) => Some("limits are enforced for docker services only"),
                (false, false) => None,
            };
            if let Some(why) = why {
                self.warn(
                    v,
                    &join(path, "resources"),
                    format!("`resources` is recorded but not acted on by this version: {why}"),
                    None,
                );
            }
        }
        for key in ["placement", "onDisconnect"] {
            if let Some(v) = f.get(key) {
                self.warn(
                    v,
                    &join(path, key),
                    format!(
                        "`{key}` is recorded but not acted on by `orco daemon`, where every instance runs on the one local node; a cluster (`orco server` and its agents) places by it"
                    ),
                    None,
                );
            }
        }
    }
}
