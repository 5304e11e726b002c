//! A job: its schedule, its tasks and their dependencies on one another; a task's process
//! fields are read by [`super::process`].

use std::collections::{BTreeMap, HashSet};

use super::{Cx, Names, join, keys, suggest};
use crate::model::*;
use crate::node::{Node, Value};

impl Cx<'_> {
    pub(super) fn job(&mut self, key: &Node, n: &Node, name: &str, names: &Names) -> Option<Job> {
        let path = join("jobs", name);
        let mut f = self.fields(n, &path, &format!("job `{name}`"), keys::JOB)?;
        f.at = key;
        let p = |k: &str| join(&path, k);
        let priority = f.get("priority").map_or(Some(0), |v| {
            self.int(
                v,
                &p("priority"),
                i32::MIN.into(),
                i32::MAX.into(),
                "priority",
            )
            .and_then(|i| i32::try_from(i).ok())
        });
        let parallelism = f
            .get("parallelism")
            .map_or(Some(0), |v| self.u32(v, &p("parallelism"), "parallelism"));
        let continue_on_failure = f
            .get("continueOnFailure")
            .map_or(Some(false), |v| self.bool(v, &p("continueOnFailure")));
        let schedule = match f.get("schedule") {
            Some(v) => self.schedule(v, &p("schedule")).map(Some),
            None => Some(None),
        };
        let depends_on = match f.get("dependsOn") {
            Some(v) => self.dependencies(v, &p("dependsOn"), name, names),
            None => Some(Vec::new()),
        };
        let (resources, placement) = self.resources_and_placement(&f, &path, name, names);
        self.warn_not_acted_on(&f, &path, resources.as_ref(), false);
        let tasks_node = self.required(&f, "tasks", &path, &format!("job `{name}`"))?;
        let task_nodes = self.named(tasks_node, &p("tasks"), "tasks");
        if task_nodes.is_empty() && matches!(tasks_node.value, Value::Map(_) | Value::Null) {
            self.error(
                tasks_node,
                &p("tasks"),
                format!("job `{name}` has no tasks"),
                Some("add at least one task with a `command`".into()),
            );
            return None;
        }
        let task_names: Vec<String> = task_nodes.iter().map(|(_, t, _)| t.clone()).collect();
        let siblings = Siblings {
            set: task_names.iter().map(String::as_str).collect(),
            names: &task_names,
        };
        let mut tasks = BTreeMap::new();
        let mut ok = true;
        for (k, task, tn) in &task_nodes {
            let tpath = join(&p("tasks"), task);
            if !self.name(k, &tpath, task, "task") {
                ok = false;
            }
            match self.task(k, tn, &tpath, name, task, &siblings, names) {
                Some(t) => {
                    tasks.insert(task.clone(), t);
                }
                None => ok = false,
            }
        }
        if ok {
            let mut g = orco_dag::Graph::new();
            for (t, task) in &tasks {
                g.add_node(t.clone());
                for d in &task.depends_on {
                    g.add_edge(t.clone(), d.target.clone());
                }
            }
            if let Some(cycle) = g.find_cycle() {
                let at = task_nodes
                    .iter()
                    .find(|(_, t, _)| Some(t) == cycle.path.first())
                    .map_or(tasks_node, |(k, _, _)| *k);
                self.error(
                    at,
                    &p("tasks"),
                    format!("tasks of job `{name}` form a {cycle}"),
                    Some("remove one of these dependsOn entries".into()),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(Job {
            priority: priority?,
            parallelism: parallelism?,
            continue_on_failure: continue_on_failure?,
            schedule: schedule?,
            tasks,
            depends_on: depends_on?,
            resources: resources?,
            placement: placement?,
            graph: Default::default(),
        })
    }

    fn schedule(&mut self, n: &Node, path: &str) -> Option<Schedule> {
        let f = self.fields(n, path, "`schedule`", keys::SCHEDULE)?;
        let cron_node = self.required(&f, "cron", path, "`schedule`")?;
        let cron = self.nonempty_string(cron_node, &join(path, "cron"))?;
        // Parsed here once and kept with the schedule: the engine reads the parsed form.
        let expr = match orco_cron::Cron::parse(&cron) {
            Ok(expr) => expr,
            Err(why) => {
                self.error(
                    cron_node,
                    &join(path, "cron"),
                    format!("bad cron expression `{cron}`: {why}"),
                    Some(
                        "five fields `minute hour day-of-month month day-of-week` (e.g. `*/5 * * * *`), \
                         or six with seconds first (e.g. `*/2 * * * * *`)"
                            .into(),
                    ),
                );
                return None;
            }
        };
        let (timezone, at) = match f.get("timezone") {
            Some(v) => (self.nonempty_string(v, &join(path, "timezone"))?, Some(v)),
            None => ("UTC".to_string(), None),
        };
        let zone = match jiff::tz::TimeZone::get(&timezone) {
            Ok(zone) => zone,
            Err(_) => {
                self.error(
                    at.unwrap_or(n),
                    &join(path, "timezone"),
                    format!("unknown time zone `{timezone}`"),
                    Some("use an IANA name such as `UTC` or `Europe/Berlin`".into()),
                );
                return None;
            }
        };
        let overlap = f.get("overlap").map_or(Some(Overlap::Skip), |v| {
            self.word(
                v,
                &join(path, "overlap"),
                &[
                    ("skip", Overlap::Skip),
                    ("queue", Overlap::Queue),
                    ("allow", Overlap::Allow),
                ],
            )
        });
        Some(Schedule::parsed_as(
            When::new(cron, timezone, expr, zone),
            overlap?,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn task(
        &mut self,
        key: &Node,
        n: &Node,
        path: &str,
        job: &str,
        name: &str,
        siblings: &Siblings,
        names: &Names,
    ) -> Option<Task> {
        let mut f = self.fields(n, path, &format!("task `{job}/{name}`"), keys::TASK)?;
        f.at = key;
        let p = |k: &str| join(path, k);
        let process = self.process(&f, path, Some(&format!("task `{job}/{name}`")));
        let retry = match f.get("retry") {
            Some(v) => self
                .fields(v, &p("retry"), "`retry`", keys::RETRY)
                .and_then(|rf| {
                    let max_retries = rf.get("maxRetries").map_or(Some(0), |x| {
                        self.u32(x, &join(&p("retry"), "maxRetries"), "maxRetries")
                    });
                    let backoff = rf.get("backoff").map_or(Some(Backoff::default()), |x| {
                        self.backoff(x, &join(&p("retry"), "backoff"))
                    });
                    Some(Retry {
                        max_retries: max_retries?,
                        backoff: backoff?,
                    })
                }),
            None => Some(Retry::default()),
        };
        let depends_on = match f.get("dependsOn") {
            Some(v) => self.task_dependencies(v, &p("dependsOn"), job, name, siblings, names),
            None => Some(Vec::new()),
        };
        let (resources, placement) = self.resources_and_placement(&f, path, job, names);
        let resources = resources.map(|r| f.get("resources").map(|_| r));
        let placement = placement.map(|pl| f.get("placement").map(|_| pl));
        self.warn_not_acted_on(&f, path, resources.as_ref().and_then(Option::as_ref), false);
        Some(Task {
            command: process.command?,
            env: process.env,
            env_from_file: process.env_from_file,
            secrets: process.secrets,
            secret_digests: std::collections::BTreeMap::new(),
            workdir: process.workdir,
            timeout: process.timeout?,
            retry: retry?,
            depends_on: depends_on?,
            resources: resources?,
            placement: placement?,
        })
    }

    fn task_dependencies(
        &mut self,
        n: &Node,
        path: &str,
        job: &str,
        task: &str,
        siblings: &Siblings,
        names: &Names,
    ) -> Option<Vec<TaskDependency>> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of dependencies (`- target: TASK`)");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some(f) = self.fields(item, &p, "a task dependency", keys::TASK_DEPENDENCY) else {
                ok = false;
                continue;
            };
            let target_node = self.required(&f, "target", &p, "a task dependency");
            let target = target_node.and_then(|t| self.string(t, &join(&p, "target")));
            let require = f.get("require").map_or(Some(Require::Succeeded), |v| {
                self.word(
                    v,
                    &join(&p, "require"),
                    &[
                        ("succeeded", Require::Succeeded),
                        ("failed", Require::Failed),
                        ("completed", Require::Completed),
                    ],
                )
            });
            let (Some(target), Some(tn), Some(require)) = (target, target_node, require) else {
                ok = false;
                continue;
            };
            let tpath = join(&p, "target");
            let other_job = target
                .split_once('/')
                .map(|(j, t)| (j.to_string(), t.to_string()));
            if target == task {
                self.error(
                    tn,
                    &tpath,
                    format!("task `{job}/{task}` depends on itself"),
                    None,
                );
                ok = false;
            } else if siblings.set.contains(target.as_str()) {
                out.push(TaskDependency { target, require });
                continue;
            } else if let Some((j, _)) =
                other_job.filter(|(j, _)| j != job && names.kinds.contains_key(j))
            {
                let message =
                    format!("task `{job}/{task}` depends on `{target}`, a task of another job");
                let hint = Some(format!(
                    "a task may depend only on tasks of its own job; make job `{job}` depend on job `{j}` instead"
                ));
                self.error(tn, &tpath, message, hint);
                ok = false;
            } else {
                let hint =
                    suggest(&target, siblings.names.iter().map(String::as_str)).or_else(|| {
                        Some(format!(
                            "tasks of job `{job}`: {}",
                            siblings.names.join(", ")
                        ))
                    });
                self.error(tn, &tpath, format!("task `{job}/{task}` depends on `{target}`, which is not a task of job `{job}`"), hint);
                ok = false;
            }
        }
        ok.then_some(out)
    }
}

/// The tasks of one job, in file order and as a set for lookups (a job may have
/// thousands).
struct Siblings<'a> {
    names: &'a [String],
    set: HashSet<&'a str>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Schedule;

    fn schedule(text: &str) -> Schedule {
        let loaded = crate::load_str(Path::new("t.yaml"), text, &std::env::temp_dir());
        loaded
            .ok()
            .and_then(|mut l| l.stack.jobs.remove("nightly"))
            .and_then(|j| j.schedule)
            .unwrap_or_else(|| panic!("no schedule in {text}"))
    }

    const NIGHTLY: &str = "version: 0.1\nstack: {name: s}\njobs:\n  nightly:\n    schedule: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n    tasks:\n      t: {command: x}\n";

    #[test]
    fn a_loaded_schedule_carries_its_cron_parsed_and_a_clone_keeps_it() {
        let s = schedule(NIGHTLY);
        assert!(
            s.is_parsed(),
            "the loader parsed the expression and kept it"
        );
        let copy = s.clone();
        assert!(copy.is_parsed(), "a clone keeps the parsed expression");
        let when = copy.when().unwrap_or_else(|| panic!("parsed"));
        assert!(matches!(when, std::borrow::Cow::Borrowed(_)));
        assert_eq!(when.zone.iana_name(), Some("Europe/Berlin"));
        let at: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap_or_default();
        let next = when.cron.next_after(&when.zone, at);
        // 03:00 in Berlin (summer time) is 01:00 UTC.
        assert_eq!(
            next.map(|t| t.to_string()).as_deref(),
            Some("2026-06-01T01:00:00Z")
        );
    }

    #[test]
    fn a_schedule_read_back_from_the_log_parses_once_on_first_use() {
        let s = schedule(NIGHTLY);
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(
            !json.contains("parsed"),
            "derived data is never serialized: {json}"
        );
        let back: Schedule = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, s);
        assert!(!back.is_parsed());
        let first = back.when().map(|w| &*w as *const crate::When);
        assert!(back.is_parsed());
        let second = back.when().map(|w| &*w as *const crate::When);
        assert!(first.is_some());
        assert_eq!(
            first, second,
            "the second use reads the same parsed expression"
        );
    }

    #[test]
    fn a_changed_expression_is_not_answered_with_the_old_parse() {
        let mut s = schedule(NIGHTLY);
        s.cron = "30 4 * * *".into();
        let at: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap_or_default();
        let when = s.when().unwrap_or_else(|| panic!("parsed"));
        let next = when.cron.next_after(&when.zone, at);
        assert_eq!(
            next.map(|t| t.to_string()).as_deref(),
            Some("2026-06-01T02:30:00Z")
        );
        s.cron = "not cron".into();
        assert!(s.when().is_none());
    }
}
