//! A service's or job's `dependsOn`: targets that exist, once each, and a `require` that the
//! target's kind and health can meet.

use super::{Cx, Names, join, keys, suggest};
use crate::model::*;
use crate::node::{Node, Value};

impl Cx<'_> {
    pub(super) fn dependencies(
        &mut self,
        n: &Node,
        path: &str,
        owner: &str,
        names: &Names,
    ) -> Option<Vec<Dependency>> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of dependencies (`- target: NAME`)");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        let mut seen: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            if let Value::Str(s) = &item.value {
                let hint = Some(format!("write `- target: {s}`"));
                self.error(item, &p, "a dependency must be a mapping", hint);
                ok = false;
                continue;
            }
            let Some(f) = self.fields(item, &p, "a dependency", keys::DEPENDENCY) else {
                ok = false;
                continue;
            };
            let target_node = self.required(&f, "target", &p, "a dependency");
            let target = target_node.and_then(|t| self.string(t, &join(&p, "target")));
            let kind = target.as_ref().and_then(|t| names.kinds.get(t).copied());
            let require = match f.get("require") {
                Some(v) => self.word(
                    v,
                    &join(&p, "require"),
                    &[
                        ("exists", Require::Exists),
                        ("started", Require::Started),
                        ("ready", Require::Ready),
                        ("succeeded", Require::Succeeded),
                        ("completed", Require::Completed),
                        ("failed", Require::Failed),
                    ],
                ),
                None if kind == Some(WorkloadKind::Job) => Some(Require::Succeeded),
                None => Some(Require::Ready),
            };
            let timeout = match f.get("timeout") {
                Some(v) => self.duration(v, &join(&p, "timeout")).map(Some),
                None => Some(None),
            };
            let restart = match f.get("restart") {
                Some(v) => self.bool(v, &join(&p, "restart")),
                None => Some(false),
            };
            let (Some(target), Some(target_node)) = (target, target_node) else {
                ok = false;
                continue;
            };
            let tpath = join(&p, "target");
            match kind {
                None => {
                    let hint =
                        suggest(&target, names.kinds.keys().map(String::as_str)).or_else(|| {
                            Some("a dependency names a service or job of this stack".into())
                        });
                    self.error(target_node, &tpath, format!("`{owner}` depends on `{target}`, which is not a service or job of this stack"), hint);
                    ok = false;
                }
                Some(_) if target == owner => {
                    self.error(
                        target_node,
                        &tpath,
                        format!("`{owner}` depends on itself"),
                        None,
                    );
                    ok = false;
                }
                Some(kind) => {
                    if seen.contains(&target) {
                        self.error(
                            target_node,
                            &tpath,
                            format!("`{owner}` lists `{target}` twice in dependsOn"),
                            Some("merge the two entries".into()),
                        );
                        ok = false;
                    }
                    seen.push(target.clone());
                    self.edges
                        .entry((owner.to_string(), target.clone()))
                        .or_insert((target_node.line, target_node.column, tpath.clone()));
                    if let Some(r) = require {
                        let rnode = f.get("require").unwrap_or(target_node);
                        let rpath = if f.get("require").is_some() {
                            join(&p, "require")
                        } else {
                            tpath.clone()
                        };
                        if !self.require_fits(rnode, &rpath, owner, &target, kind, r, names) {
                            ok = false;
                        }
                    }
                }
            }
            match (require, timeout, restart) {
                (Some(require), Some(timeout), Some(restart)) => out.push(Dependency {
                    target,
                    require,
                    timeout,
                    restart,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn require_fits(
        &mut self,
        n: &Node,
        path: &str,
        owner: &str,
        target: &str,
        kind: WorkloadKind,
        r: Require,
        names: &Names,
    ) -> bool {
        let problem = match (kind, r) {
            (_, Require::Failed) => Some((
                format!(
                    "`require: failed` is only for dependencies between tasks of a job, and `{owner}` → `{target}` is not one"
                ),
                "use `completed` to wait for an exit either way".to_string(),
            )),
            (WorkloadKind::Job, Require::Ready) => Some((
                format!(
                    "`{owner}` requires job `{target}` to be ready, but a job has no readiness"
                ),
                "use `require: succeeded` (or `completed`)".to_string(),
            )),
            (WorkloadKind::Service, Require::Ready)
                if !names.has_health.get(target).copied().unwrap_or(false) =>
            {
                Some((
                    format!(
                        "`{owner}` requires `{target}` to be ready, but `{target}` has no health probe"
                    ),
                    format!("add `health:` to `{target}`, or use `require: started`"),
                ))
            }
            _ => None,
        };
        match problem {
            Some((message, hint)) => {
                self.error(n, path, message, Some(hint));
                false
            }
            None => true,
        }
    }
}
