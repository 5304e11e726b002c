//! The plan of an apply: [`plan`] compares the running stack with a stack file's stack.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use orco_spec::{Service, Stack};
use serde::Serialize;

use crate::diff::{FieldChange, diff};

/// The running stack as the daemon holds it: the resolved stack last applied and the
/// overrides set since (`orco scale`, `orco stop`), which an apply clears.
#[derive(Debug, Clone, Copy)]
pub struct Running<'a> {
    /// The stack as last applied.
    pub spec: &'a Stack,
    /// Replica counts set by `scale` since the last apply, by service.
    pub scale: &'a BTreeMap<String, u32>,
    /// Services stopped by `stop` since the last apply.
    pub stopped: &'a BTreeSet<String>,
}

/// A service or a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A long-running workload with instances.
    Service,
    /// A workload that runs to completion.
    Job,
}

impl Kind {
    /// `service` or `job`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Job => "job",
        }
    }
}

/// What an apply does to one workload, the strongest effect first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// New in the stack file.
    Add,
    /// Gone from the stack file: its instances are stopped and removed.
    Remove,
    /// A key other than `replicas` changed: its existing instances are replaced.
    Replace,
    /// Keys changed but no instance is replaced (a job, or a service without instances).
    Change,
    /// Only the replica count changed: instances are created or removed, none replaced.
    Scale,
    /// Unchanged, but stopped by `stop`: the apply starts it again.
    Start,
}

impl Action {
    /// The lowercase word.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Remove => "remove",
            Action::Replace => "replace",
            Action::Change => "change",
            Action::Scale => "scale",
            Action::Start => "start",
        }
    }
}

/// What an apply does to one workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadPlan {
    /// Its name in the stack.
    pub name: String,
    /// Service or job.
    pub kind: Kind,
    /// The strongest effect.
    pub action: Action,
    /// The keys that change, with old and new values (none for an added or removed workload).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// Instances created (`NAME-N`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub create: Vec<String>,
    /// Instances replaced: stopped and started again with the new spec, as a rollout under
    /// the service's `update` bounds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<String>,
    /// Why the instances in `replace` are replaced (the restart rule's words:
    /// [`orco_spec::Service::replacement`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Instances stopped and removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Instances stopped by `stop` that start again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub start: Vec<String>,
}

/// What applying a stack file would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The stack's name.
    pub stack: String,
    /// Whether the stack does not run yet (everything is added).
    pub created: bool,
    /// Changes to the stack's own keys (`stack.workdir`, `defaults.…`, `version`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack_changes: Vec<FieldChange>,
    /// The workloads that change: services, then jobs, each by name.
    pub workloads: Vec<WorkloadPlan>,
    /// The workloads left alone, services then jobs.
    pub unchanged: Vec<String>,
}

impl Plan {
    /// Whether the apply would change nothing.
    pub fn is_empty(&self) -> bool {
        !self.created && self.stack_changes.is_empty() && self.workloads.is_empty()
    }

    /// The counts for a one-line summary.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for w in &self.workloads {
            match w.action {
                Action::Add => s.add += 1,
                Action::Remove => s.remove += 1,
                Action::Replace | Action::Change => s.change += 1,
                Action::Scale => s.scale += 1,
                Action::Start => s.start += 1,
            }
            s.replace += w.replace.len();
        }
        s.unchanged = self.unchanged.len();
        s
    }
}

/// How many workloads each action touches, and how many instances are replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Workloads added.
    pub add: usize,
    /// Workloads whose keys change (replaced or not).
    pub change: usize,
    /// Services only scaled.
    pub scale: usize,
    /// Workloads removed.
    pub remove: usize,
    /// Stopped services started again.
    pub start: usize,
    /// Instances replaced.
    pub replace: usize,
    /// Workloads left alone.
    pub unchanged: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to add, {} to change, {} to scale, {} to remove",
            self.add, self.change, self.scale, self.remove
        )?;
        if self.start > 0 {
            write!(f, ", {} to start", self.start)?;
        }
        let plural = if self.replace == 1 { "" } else { "s" };
        write!(
            f,
            "; {} instance{plural} to replace; {} unchanged",
            self.replace, self.unchanged
        )
    }
}

/// The plan of applying `next` over `running` (`None`: the stack does not run). Pure.
///
/// A service's existing instances are replaced exactly when the restart rule says so
/// ([`orco_spec::Service::replaced_by`], the rule the state's revisions and so the node
/// follow): a change of any key but `replicas`, or a replica count that moves the service
/// behind the built-in proxy or out of it. Otherwise a change of `replicas` creates or
/// removes instances and replaces none. The running replica count is the `scale` override
/// when there is one, since an apply clears it.
pub fn plan(running: Option<Running<'_>>, next: &Stack) -> Plan {
    let empty_scale = BTreeMap::new();
    let empty_stopped = BTreeSet::new();
    let mut out = Plan {
        stack: next.stack.name.clone(),
        created: running.is_none(),
        stack_changes: Vec::new(),
        workloads: Vec::new(),
        unchanged: Vec::new(),
    };
    let (old_services, old_jobs, scale, stopped) = match running {
        Some(r) => {
            out.stack_changes = stack_changes(r.spec, next);
            (
                Some(&r.spec.services),
                Some(&r.spec.jobs),
                r.scale,
                r.stopped,
            )
        }
        None => (None, None, &empty_scale, &empty_stopped),
    };
    let empty_services = BTreeMap::new();
    let old_services = old_services.unwrap_or(&empty_services);
    let names: BTreeSet<&String> = old_services.keys().chain(next.services.keys()).collect();
    for name in names {
        let old = old_services
            .get(name)
            .map(|s| (s, scale.get(name).copied().unwrap_or(s.replicas)));
        let stopped = stopped.contains(name);
        match service_plan(name, old, next.services.get(name), stopped) {
            Some(w) => out.workloads.push(w),
            None => out.unchanged.push(name.clone()),
        }
    }
    let empty_jobs = BTreeMap::new();
    let old_jobs = old_jobs.unwrap_or(&empty_jobs);
    let names: BTreeSet<&String> = old_jobs.keys().chain(next.jobs.keys()).collect();
    for name in names {
        let (action, changes) = match (old_jobs.get(name), next.jobs.get(name)) {
            (None, Some(_)) => (Action::Add, Vec::new()),
            (Some(_), None) => (Action::Remove, Vec::new()),
            (Some(a), Some(b)) => {
                let changes = diff(a, b);
                if changes.is_empty() {
                    out.unchanged.push(name.clone());
                    continue;
                }
                (Action::Change, changes)
            }
            (None, None) => continue,
        };
        out.workloads.push(WorkloadPlan {
            name: name.clone(),
            kind: Kind::Job,
            action,
            changes,
            create: Vec::new(),
            replace: Vec::new(),
            why: None,
            remove: Vec::new(),
            start: Vec::new(),
        });
    }
    out
}

fn stack_changes(old: &Stack, new: &Stack) -> Vec<FieldChange> {
    let mut out = Vec::new();
    prefixed(&mut out, "version", diff(&old.version, &new.version));
    prefixed(&mut out, "stack", diff(&old.stack, &new.stack));
    prefixed(&mut out, "defaults", diff(&old.defaults, &new.defaults));
    out
}

fn prefixed(out: &mut Vec<FieldChange>, prefix: &str, changes: Vec<FieldChange>) {
    out.extend(changes.into_iter().map(|mut c| {
        c.field = if c.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", c.field)
        };
        c
    }));
}

fn instances(name: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("{name}-{n}")).collect()
}

/// One service's plan, `None` when the apply leaves it alone. `old` is the running service
/// with its running replica count.
fn service_plan(
    name: &str,
    old: Option<(&Service, u32)>,
    new: Option<&Service>,
    stopped: bool,
) -> Option<WorkloadPlan> {
    let mut w = WorkloadPlan {
        name: name.to_string(),
        kind: Kind::Service,
        action: Action::Add,
        changes: Vec::new(),
        create: Vec::new(),
        replace: Vec::new(),
        why: None,
        remove: Vec::new(),
        start: Vec::new(),
    };
    match (old, new) {
        (None, None) => return None,
        (None, Some(new)) => {
            w.create = instances(name, 0..new.replicas);
        }
        (Some((_, running)), None) => {
            w.action = Action::Remove;
            w.remove = instances(name, 0..running);
        }
        (Some((old, running)), Some(new)) => {
            let mut changes: Vec<FieldChange> = diff(old, new)
                .into_iter()
                .filter(|c| c.key() != "replicas")
                .collect();
            let spec_changes = !changes.is_empty();
            let wanted = new.replicas;
            // The restart rule, on the service as it runs (its running replica count) and as
            // it will: a replica count can replace instances too (the proxy moves).
            let mut was = old.clone();
            was.replicas = running;
            let why = was.replacement(new);
            if running != wanted {
                changes.push(FieldChange {
                    field: "replicas".into(),
                    old: Some(running.to_string()),
                    new: Some(wanted.to_string()),
                });
                changes.sort_by(|a, b| a.field.cmp(&b.field));
            }
            let kept = 0..running.min(wanted);
            if stopped && wanted > 0 {
                w.start = instances(name, kept);
            } else if why.is_some() {
                w.replace = instances(name, kept);
                if !w.replace.is_empty() {
                    w.why = why;
                }
            }
            w.create = instances(name, running.min(wanted)..wanted);
            w.remove = instances(name, wanted..running);
            w.action = if !w.replace.is_empty() {
                Action::Replace
            } else if spec_changes {
                Action::Change
            } else if running != wanted {
                Action::Scale
            } else if !w.start.is_empty() {
                Action::Start
            } else {
                return None;
            };
            w.changes = changes;
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(yaml: &str) -> Stack {
        let text = format!("version: 0.1\nstack: {{name: demo}}\n{yaml}");
        match orco_spec::load_str(
            std::path::Path::new("stack.yaml"),
            &text,
            std::path::Path::new("/srv"),
        ) {
            Ok(loaded) => loaded.stack,
            Err(report) => panic!("{report:?}"),
        }
    }

    const BASE: &str = "services:
  api: {command: [sleep, '100']}
  web: {command: [sleep, '100']}
jobs:
  migrate: {tasks: {up: {command: 'true'}}}
";

    fn running(spec: &Stack) -> Running<'_> {
        static SCALE: std::sync::OnceLock<BTreeMap<String, u32>> = std::sync::OnceLock::new();
        static STOPPED: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
        Running {
            spec,
            scale: SCALE.get_or_init(BTreeMap::new),
            stopped: STOPPED.get_or_init(BTreeSet::new),
        }
    }

    #[test]
    fn the_same_stack_plans_nothing() {
        let s = stack(BASE);
        let p = plan(Some(running(&s)), &s);
        assert!(p.is_empty());
        assert_eq!(p.unchanged, ["api", "web", "migrate"]);
    }

    #[test]
    fn a_stack_that_does_not_run_adds_every_workload_and_its_instances() {
        let s = stack(BASE);
        let p = plan(None, &s);
        assert!(p.created);
        let actions: Vec<(&str, Action)> = p
            .workloads
            .iter()
            .map(|w| (w.name.as_str(), w.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("api", Action::Add),
                ("web", Action::Add),
                ("migrate", Action::Add)
            ]
        );
        assert_eq!(p.workloads[0].create, ["api-0"]);
    }

    #[test]
    fn a_changed_command_replaces_the_instances_and_shows_old_and_new() {
        let old = stack(BASE);
        let new = stack(&BASE.replace(
            "api: {command: [sleep, '100']}",
            "api: {command: [sleep, '200'], replicas: 2}",
        ));
        let p = plan(Some(running(&old)), &new);
        assert_eq!(p.workloads.len(), 1);
        let api = &p.workloads[0];
        assert_eq!(api.action, Action::Replace);
        assert_eq!(api.replace, ["api-0"]);
        assert_eq!(api.create, ["api-1"]);
        let shown: Vec<String> = api.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                r#"command: ["sleep","100"] → ["sleep","200"]"#,
                "replicas: 1 → 2"
            ]
        );
    }

    #[test]
    fn a_replicas_only_change_scales_and_replaces_nothing() {
        let old = stack(BASE);
        let new = stack(&BASE.replace(
            "web: {command: [sleep, '100']}",
            "web: {command: [sleep, '100'], replicas: 3}",
        ));
        let p = plan(Some(running(&old)), &new);
        let web = &p.workloads[0];
        assert_eq!(web.action, Action::Scale);
        assert!(web.replace.is_empty());
        assert_eq!(web.create, ["web-1", "web-2"]);
        assert_eq!(p.summary().replace, 0);
    }

    #[test]
    fn scaling_a_published_service_behind_the_proxy_names_the_instance_it_replaces_and_why() {
        let web = "web: {command: [sleep, '100'], ports: ['8080:8080']}";
        let old = stack(&BASE.replace("web: {command: [sleep, '100']}", web));
        let new = stack(&BASE.replace(
            "web: {command: [sleep, '100']}",
            &web.replace('}', ", replicas: 2}"),
        ));
        let p = plan(Some(running(&old)), &new);
        let w = &p.workloads[0];
        assert_eq!(w.action, Action::Replace);
        assert_eq!(w.create, ["web-1"]);
        assert_eq!(w.replace, ["web-0"]);
        assert_eq!(
            w.why.as_deref(),
            Some("it moves behind the built-in proxy on port 8080 (replicas 1 -> 2)")
        );
        assert_eq!(p.summary().replace, 1);
        assert!(p.summary().to_string().contains("1 instance to replace"));
        // Two to three: both run behind the proxy already, none is replaced.
        let three = stack(&BASE.replace(
            "web: {command: [sleep, '100']}",
            &web.replace('}', ", replicas: 3}"),
        ));
        let p = plan(Some(running(&new)), &three);
        assert_eq!(p.workloads[0].action, Action::Scale);
        assert!(p.workloads[0].replace.is_empty());
    }

    #[test]
    fn scaling_down_removes_the_highest_replicas() {
        let old = stack(&BASE.replace(
            "web: {command: [sleep, '100']}",
            "web: {command: [sleep, '100'], replicas: 3}",
        ));
        let new = stack(BASE);
        let p = plan(Some(running(&old)), &new);
        assert_eq!(p.workloads[0].remove, ["web-1", "web-2"]);
        assert_eq!(p.workloads[0].action, Action::Scale);
    }

    #[test]
    fn a_scale_override_counts_as_the_running_replica_count() {
        let s = stack(BASE);
        let scale = BTreeMap::from([("web".to_string(), 3)]);
        let stopped = BTreeSet::new();
        let r = Running {
            spec: &s,
            scale: &scale,
            stopped: &stopped,
        };
        let p = plan(Some(r), &s);
        let web = &p.workloads[0];
        assert_eq!(web.action, Action::Scale);
        assert_eq!(web.changes[0].to_string(), "replicas: 3 → 1");
        assert_eq!(web.remove, ["web-1", "web-2"]);
    }

    #[test]
    fn a_stopped_service_is_started_again() {
        let s = stack(BASE);
        let scale = BTreeMap::new();
        let stopped = BTreeSet::from(["api".to_string()]);
        let r = Running {
            spec: &s,
            scale: &scale,
            stopped: &stopped,
        };
        let p = plan(Some(r), &s);
        assert_eq!(p.workloads[0].action, Action::Start);
        assert_eq!(p.workloads[0].start, ["api-0"]);
        assert_eq!(p.summary().start, 1);
    }

    #[test]
    fn removed_and_added_workloads_are_listed_with_their_instances() {
        let old = stack(BASE);
        let new = stack(
            "services:
  api: {command: [sleep, '100']}
  cache: {command: [sleep, '100'], replicas: 2}
",
        );
        let p = plan(Some(running(&old)), &new);
        let actions: Vec<(&str, Action)> = p
            .workloads
            .iter()
            .map(|w| (w.name.as_str(), w.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("cache", Action::Add),
                ("web", Action::Remove),
                ("migrate", Action::Remove)
            ]
        );
        assert_eq!(p.workloads[0].create, ["cache-0", "cache-1"]);
        assert_eq!(p.workloads[1].remove, ["web-0"]);
        assert_eq!(
            p.summary().to_string(),
            "1 to add, 0 to change, 0 to scale, 2 to remove; 0 instances to replace; 1 unchanged"
        );
    }

    #[test]
    fn a_changed_job_lists_its_changed_keys() {
        let old = stack(BASE);
        let new = stack(&BASE.replace("command: 'true'", "command: 'false'"));
        let p = plan(Some(running(&old)), &new);
        let job = &p.workloads[0];
        assert_eq!((job.kind, job.action), (Kind::Job, Action::Change));
        assert_eq!(job.changes[0].field, "tasks.up.command");
        assert_eq!(job.changes[0].to_string(), "tasks.up.command: true → false");
    }

    #[test]
    fn an_env_change_names_the_variable() {
        let old = stack(&BASE.replace(
            "api: {command: [sleep, '100']}",
            "api: {command: [sleep, '100'], env: {A: '1'}}",
        ));
        let new = stack(&BASE.replace(
            "api: {command: [sleep, '100']}",
            "api: {command: [sleep, '100'], env: {A: '2'}}",
        ));
        let p = plan(Some(running(&old)), &new);
        assert_eq!(p.workloads[0].changes[0].to_string(), "env.A: 1 → 2");
        assert_eq!(p.workloads[0].action, Action::Replace);
    }

    #[test]
    fn a_service_with_no_instances_is_changed_without_replacing_anything() {
        let zero = "api: {command: [sleep, '100'], replicas: 0}";
        let old = stack(&BASE.replace("api: {command: [sleep, '100']}", zero));
        let new = stack(&BASE.replace("api: {command: [sleep, '100']}", &zero.replace("100", "5")));
        let p = plan(Some(running(&old)), &new);
        assert_eq!(p.workloads[0].action, Action::Change);
        assert!(p.workloads[0].replace.is_empty());
    }

    #[test]
    fn a_stack_workdir_change_is_a_stack_change() {
        let old = stack(BASE);
        let mut new = old.clone();
        new.stack.workdir = "/elsewhere".into();
        let p = plan(Some(running(&old)), &new);
        assert_eq!(p.stack_changes[0].field, "stack.workdir");
        assert!(!p.is_empty());
    }
}
