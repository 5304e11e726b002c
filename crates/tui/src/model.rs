//! The TUI's state, and the pure update: a message (a key, a snapshot, an event, a log
//! line, a tick) changes the [`Model`] and yields the [`Command`]s the IO side carries out.
//! Nothing here touches the terminal, the clock or the network.
//!
//! The model holds one stack (`orco tui --stack NAME`) or every applied stack: workloads are
//! kept in stack order, and everything about a workload (its instances, resource use, job
//! runs) and every action on it is keyed by its id, `STACK/NAME`, so that two stacks with a
//! service of the same name never mix.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use jiff::Timestamp;
use orco_wire::model::{EventView, InstanceView, WorkloadDetail, WorkloadView};
use orco_wire::{EventType, WorkloadKind};
use regex::Regex;

use crate::graph::Topology;
use crate::logs::{Level, LogBuffer, LogFilter, LogLine, next_min_level};

/// How many log lines the pane keeps.
pub const LOG_CAPACITY: usize = 5_000;

/// Resource use of one workload's instances, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// CPU, in percent of one core.
    pub cpu_percent: f64,
    /// Resident memory, in bytes.
    pub memory_bytes: u64,
}

/// A whole view of one stack, read when the TUI starts or the stack is re-applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The stack.
    pub stack: String,
    /// The revision it answers for.
    pub revision: u64,
    /// The moment ages are measured to.
    pub as_of: Timestamp,
    /// Its workloads, services then jobs.
    pub workloads: Vec<WorkloadView>,
    /// Its instances.
    pub instances: Vec<InstanceView>,
    /// Its dependencies and tasks.
    pub topology: Topology,
}

/// Whether the TUI hears from the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Reading the first snapshot.
    Connecting,
    /// Following the event watch.
    Live,
    /// The watch broke; the reason, while reconnecting.
    Lost(String),
}

/// A task's progress in a job's latest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Started, not finished.
    Running,
    /// Exited 0.
    Succeeded,
    /// Failed.
    Failed,
    /// Can no longer run.
    Skipped,
}

/// A job's latest run, from the event watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobProgress {
    /// The run number.
    pub run: u64,
    /// Each task seen so far.
    pub tasks: BTreeMap<String, TaskState>,
}

/// A question before a destructive action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Restart every instance of the workload.
    Restart,
    /// Stop the workload until started again.
    Stop,
}

impl Action {
    /// The verb.
    pub fn word(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Stop => "stop",
        }
    }
}

/// What the keyboard currently drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The table and the log pane.
    Normal,
    /// "restart web? y/n".
    Confirm {
        /// The action asked about.
        action: Action,
        /// The workload's id, `STACK/NAME`.
        workload: String,
    },
    /// The scale dialog: the replica count being typed.
    Scale {
        /// The workload's id, `STACK/NAME`.
        workload: String,
        /// The digits typed.
        input: String,
        /// The input still shows the current count, which the first digit typed replaces
        /// (rather than being appended to it).
        fresh: bool,
        /// Why the last Enter was refused.
        error: Option<String>,
    },
    /// Typing the log pane's regex filter.
    Filter {
        /// The pattern typed.
        input: String,
        /// Why the last Enter was refused.
        error: Option<String>,
    },
    /// Typing a search for a workload by name.
    Search {
        /// The text typed.
        input: String,
    },
    /// The key help.
    Help,
}

/// What the IO side does for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Leave, restoring the terminal.
    Quit,
    /// Restart every instance of the workload (by id, `STACK/NAME`).
    Restart(String),
    /// Stop the workload (by id).
    Stop(String),
    /// Start the stopped workload (by id).
    Start(String),
    /// Set the workload's replica count (by id).
    Scale(String, u32),
    /// Capture the mouse (`true`) or release it so that text can be selected (`false`).
    MouseCapture(bool),
}

/// A one-line message at the bottom: an action's result or a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Whether it reports a failure.
    pub error: bool,
}

/// Everything that can change the model.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// A whole view of one stack: it replaces what the model holds of that stack.
    Snapshot(Box<Snapshot>),
    /// Whole views of every stack shown: they replace everything the model holds.
    Snapshots(Vec<Snapshot>),
    /// A stack that is gone (removed).
    StackGone(String),
    /// One workload read again after events touched it.
    Workload(Box<WorkloadDetail>),
    /// Workloads read again (what waits on what may have changed).
    Workloads(Vec<WorkloadView>),
    /// A workload that is gone (by id, `STACK/NAME`).
    WorkloadGone(String),
    /// An event from the watch.
    Event(Box<EventView>),
    /// A log line.
    Log(LogLine),
    /// `n` log lines were dropped before reaching the pane (a flood).
    LogsDropped(u64),
    /// Resource use by workload id.
    Usage(BTreeMap<String, Usage>),
    /// The clock moved (ages).
    Tick(Timestamp),
    /// The connection changed.
    Connection(Connection),
    /// An action finished: what it was and how it went.
    ActionDone(Result<String, String>),
}

/// The TUI's state.
#[derive(Debug, Clone)]
pub struct Model {
    /// The stacks shown, by name.
    pub stacks: Vec<String>,
    /// Their workloads: stack by stack, each stack's services then jobs.
    pub workloads: Vec<WorkloadView>,
    /// Instances by workload id.
    pub instances: BTreeMap<String, Vec<InstanceView>>,
    /// Dependencies, tasks and layers, by stack.
    pub topologies: BTreeMap<String, Topology>,
    /// Resource use by workload id.
    pub usage: BTreeMap<String, Usage>,
    /// Jobs' latest runs, by job id.
    pub jobs: BTreeMap<String, JobProgress>,
    /// The moment ages are measured to.
    pub now: Timestamp,
    /// The last revision seen.
    pub revision: u64,
    /// The selected row.
    pub selected: usize,
    /// What the keyboard drives.
    pub mode: Mode,
    /// The log pane's lines.
    pub logs: LogBuffer,
    /// Lines dropped before reaching the pane.
    pub logs_dropped: u64,
    /// The minimum level shown.
    pub log_level: Option<Level>,
    /// The regex filter.
    pub log_regex: Option<Regex>,
    /// Show every workload's lines (`true`) or the selected one's.
    pub log_all: bool,
    /// Lines scrolled back from the newest (0: following).
    pub log_scroll: usize,
    /// The last search text.
    pub search: Option<String>,
    /// The mouse is released for selecting and copying text.
    pub copy_mode: bool,
    /// The dependency graph replaces the detail pane.
    pub show_graph: bool,
    /// The connection to the daemon.
    pub connection: Connection,
    /// The bottom line's message.
    pub notice: Option<Notice>,
}

impl Model {
    /// An empty model, connecting, at `now`.
    pub fn new(now: Timestamp) -> Model {
        Model {
            stacks: Vec::new(),
            workloads: Vec::new(),
            instances: BTreeMap::new(),
            topologies: BTreeMap::new(),
            usage: BTreeMap::new(),
            jobs: BTreeMap::new(),
            now,
            revision: 0,
            selected: 0,
            mode: Mode::Normal,
            logs: LogBuffer::new(LOG_CAPACITY),
            logs_dropped: 0,
            log_level: None,
            log_regex: None,
            log_all: true,
            log_scroll: 0,
            search: None,
            copy_mode: false,
            show_graph: false,
            connection: Connection::Connecting,
            notice: None,
        }
    }

    /// The selected workload, if any.
    pub fn selected_workload(&self) -> Option<&WorkloadView> {
        self.workloads.get(self.selected)
    }

    /// The stack shown when there is exactly one.
    pub fn stack(&self) -> Option<&str> {
        match self.stacks.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// Whether several stacks are shown (the table then groups them under a row each).
    pub fn grouped(&self) -> bool {
        self.stacks.len() > 1
    }

    /// What a workload is called on screen: its name with one stack, `STACK/NAME` with
    /// several.
    pub fn label<'a>(&self, id: &'a str) -> &'a str {
        if self.grouped() { id } else { short_name(id) }
    }

    /// The dependencies, tasks and layers of `stack`'s file.
    pub fn topology(&self, stack: &str) -> Option<&Topology> {
        self.topologies.get(stack)
    }

    /// Why `workload` waits, if it waits on a dependency: the daemon's words for the
    /// reconciler's reason.
    pub fn blocked(&self, workload: &WorkloadView) -> Option<String> {
        let blocked = workload.blocked.as_ref()?;
        Some(workload.message.clone().unwrap_or_else(|| {
            format!(
                "{} blocked: dependency {} not {}",
                workload.name,
                blocked.dependency,
                blocked.require.as_str()
            )
        }))
    }

    /// The log pane's filter as it stands.
    pub fn log_filter(&self) -> LogFilter {
        LogFilter {
            min_level: self.log_level,
            regex: self.log_regex.clone(),
            workload: if self.log_all {
                None
            } else {
                self.selected_workload().map(|w| w.name.clone())
            },
        }
    }

    /// Applies one message; the commands it leads to.
    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Key(key) => return self.key(key),
            Msg::Snapshot(snapshot) => {
                let selected = self.selected_id();
                self.snapshot(*snapshot);
                self.reselect(selected.as_deref());
            }
            Msg::Snapshots(snapshots) => {
                let selected = self.selected_id();
                self.stacks.clear();
                self.workloads.clear();
                self.instances.clear();
                self.topologies.clear();
                for snapshot in snapshots {
                    self.snapshot(snapshot);
                }
                self.connection = Connection::Live;
                self.reselect(selected.as_deref());
            }
            Msg::StackGone(stack) => {
                let selected = self.selected_id();
                self.forget(&stack);
                self.reselect(selected.as_deref());
            }
            Msg::Workload(detail) => self.workload(*detail),
            Msg::Workloads(views) => {
                for view in views {
                    if let Some(slot) = self.workloads.iter_mut().find(|w| w.id == view.id) {
                        *slot = view;
                    }
                }
            }
            Msg::WorkloadGone(id) => {
                let selected = self.selected_id();
                self.workloads.retain(|w| w.id != id);
                self.instances.remove(&id);
                self.reselect(selected.as_deref());
            }
            Msg::Event(event) => self.event(&event),
            Msg::Log(line) => {
                let shown =
                    (self.log_scroll > 0 || self.copy_mode) && self.log_filter().matches(&line);
                self.logs.push(line);
                if shown {
                    // Hold the view still while reading back or selecting text.
                    self.log_scroll = self.log_scroll.saturating_add(1);
                }
            }
            Msg::LogsDropped(n) => self.logs_dropped = self.logs_dropped.saturating_add(n),
            Msg::Usage(usage) => self.usage = usage,
            Msg::Tick(now) => self.now = now,
            Msg::Connection(connection) => self.connection = connection,
            Msg::ActionDone(result) => {
                self.notice = Some(match result {
                    Ok(text) => Notice { text, error: false },
                    Err(text) => Notice { text, error: true },
                });
            }
        }
        Vec::new()
    }

    fn selected_id(&self) -> Option<String> {
        self.selected_workload().map(|w| w.id.clone())
    }

    /// Drops everything held of `stack`.
    fn forget(&mut self, stack: &str) {
        self.stacks.retain(|s| s != stack);
        self.workloads.retain(|w| w.stack != stack);
        self.instances
            .retain(|id, _| id.split_once('/').is_none_or(|(s, _)| s != stack));
        self.topologies.remove(stack);
    }

    /// Replaces what the model holds of the snapshot's stack (the selection is the caller's).
    fn snapshot(&mut self, snapshot: Snapshot) {
        let stack = snapshot.stack;
        self.forget(&stack);
        self.revision = self.revision.max(snapshot.revision);
        self.now = self.now.max(snapshot.as_of);
        for mut view in snapshot.workloads {
            // Each workload is filed under the stack it was read for.
            view.stack.clone_from(&stack);
            self.workloads.push(view);
        }
        self.topologies.insert(stack.clone(), snapshot.topology);
        for instance in snapshot.instances {
            self.instances
                .entry(instance.workload.clone())
                .or_default()
                .push(instance);
        }
        self.stacks.push(stack);
        self.stacks.sort();
        // Stack by stack, each in the API's order.
        self.workloads.sort_by(|a, b| a.stack.cmp(&b.stack));
        self.connection = Connection::Live;
    }

    /// Stack by stack; in each, services first, then jobs, each by name: the API's order.
    fn sort(&mut self) {
        self.workloads.sort_by(|a, b| {
            (&a.stack, a.kind != WorkloadKind::Service, &a.name).cmp(&(
                &b.stack,
                b.kind != WorkloadKind::Service,
                &b.name,
            ))
        });
    }

    fn workload(&mut self, detail: WorkloadDetail) {
        self.revision = self.revision.max(detail.revision);
        let view = detail.workload;
        let id = view.id.clone();
        match self.workloads.iter_mut().find(|w| w.id == id) {
            Some(slot) => *slot = view,
            None => {
                let selected = self.selected_id();
                if !self.stacks.contains(&view.stack) {
                    self.stacks.push(view.stack.clone());
                    self.stacks.sort();
                }
                self.workloads.push(view);
                self.sort();
                self.reselect(selected.as_deref());
            }
        }
        self.instances.insert(id, detail.instances);
    }

    fn reselect(&mut self, id: Option<&str>) {
        if let Some(id) = id
            && let Some(i) = self.workloads.iter().position(|w| w.id == id)
        {
            self.selected = i;
        }
        self.clamp();
    }

    fn clamp(&mut self) {
        self.selected = self.selected.min(self.workloads.len().saturating_sub(1));
    }

    fn event(&mut self, event: &EventView) {
        self.revision = self.revision.max(event.revision);
        let (workload, _) = split_object(&event.object);
        if let Some((job, run, task)) = task_of(&event.object) {
            let progress = self.jobs.entry(job).or_default();
            if run > progress.run {
                *progress = JobProgress {
                    run,
                    tasks: BTreeMap::new(),
                };
            }
            if run == progress.run {
                let state = match event.kind {
                    EventType::TaskStarted => Some(TaskState::Running),
                    EventType::TaskSucceeded => Some(TaskState::Succeeded),
                    EventType::TaskFailed => Some(TaskState::Failed),
                    EventType::TaskSkipped => Some(TaskState::Skipped),
                    _ => None,
                };
                if let Some(state) = state {
                    progress.tasks.insert(task.to_string(), state);
                }
            }
        }
        let level = match event.kind {
            EventType::InstanceFailed | EventType::TaskFailed => Level::Error,
            EventType::InstanceUnready | EventType::InstanceBackoff | EventType::TaskSkipped => {
                Level::Warn
            }
            EventType::InstanceExited if !event.summary.contains("(exit 0)") => Level::Warn,
            _ => Level::Info,
        };
        // `demo/db-0 ready` reads `db-0 ready` in the pane of stack demo alone.
        let summary = self
            .stack()
            .and_then(|stack| event.summary.strip_prefix(stack))
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(&event.summary)
            .to_string();
        self.update(Msg::Log(LogLine::note(workload, level, summary)));
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return vec![Command::Quit];
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(key),
            Mode::Help => Vec::new(),
            Mode::Confirm { action, workload } => match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                    self.notice = Some(Notice {
                        text: format!("{}: {} requested…", self.label(&workload), action.word()),
                        error: false,
                    });
                    vec![match action {
                        Action::Restart => Command::Restart(workload),
                        Action::Stop => Command::Stop(workload),
                    }]
                }
                KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => Vec::new(),
                _ => {
                    self.mode = Mode::Confirm { action, workload };
                    Vec::new()
                }
            },
            Mode::Scale {
                workload,
                mut input,
                fresh,
                error,
            } => self.scale_key(key, workload, &mut input, fresh, error),
            Mode::Filter { mut input, error } => match key.code {
                KeyCode::Esc => Vec::new(),
                KeyCode::Enter if input.is_empty() => {
                    self.log_regex = None;
                    self.log_scroll = 0;
                    Vec::new()
                }
                KeyCode::Enter => {
                    match Regex::new(&input) {
                        Ok(regex) => {
                            self.log_regex = Some(regex);
                            self.log_scroll = 0;
                        }
                        Err(e) => {
                            let first = e
                                .to_string()
                                .lines()
                                .last()
                                .unwrap_or("")
                                .trim()
                                .to_string();
                            self.mode = Mode::Filter {
                                input,
                                error: Some(format!("not a valid regex: {first}")),
                            };
                        }
                    }
                    Vec::new()
                }
                _ => {
                    edit(&mut input, key);
                    self.mode = Mode::Filter { input, error };
                    Vec::new()
                }
            },
            Mode::Search { mut input } => match key.code {
                KeyCode::Esc => Vec::new(),
                KeyCode::Enter => {
                    self.search = (!input.is_empty()).then_some(input);
                    self.next_match(true);
                    Vec::new()
                }
                _ => {
                    edit(&mut input, key);
                    self.mode = Mode::Search { input };
                    Vec::new()
                }
            },
        }
    }

    fn scale_key(
        &mut self,
        key: KeyEvent,
        workload: String,
        input: &mut String,
        fresh: bool,
        error: Option<String>,
    ) -> Vec<Command> {
        let current = || input.parse::<u32>().ok();
        match key.code {
            KeyCode::Esc => return Vec::new(),
            KeyCode::Enter => match input.parse::<u32>() {
                Ok(replicas) if replicas <= 1000 => {
                    self.notice = Some(Notice {
                        text: format!("{}: scale to {replicas} requested…", self.label(&workload)),
                        error: false,
                    });
                    return vec![Command::Scale(workload, replicas)];
                }
                _ => {
                    self.mode = Mode::Scale {
                        workload,
                        input: input.clone(),
                        fresh: false,
                        error: Some("type a number of replicas from 0 to 1000".into()),
                    };
                    return Vec::new();
                }
            },
            KeyCode::Char('+') | KeyCode::Up => {
                *input = current()
                    .unwrap_or(0)
                    .saturating_add(1)
                    .min(1000)
                    .to_string();
            }
            KeyCode::Char('-') | KeyCode::Down => {
                *input = current().unwrap_or(0).saturating_sub(1).to_string();
            }
            KeyCode::Char(c) if c.is_ascii_digit() && fresh => *input = c.to_string(),
            KeyCode::Char(c) if c.is_ascii_digit() && input.len() < 4 => input.push(c),
            KeyCode::Backspace => {
                input.pop();
            }
            _ => {}
        }
        self.mode = Mode::Scale {
            workload,
            input: input.clone(),
            fresh: false,
            error,
        };
        Vec::new()
    }

    fn normal_key(&mut self, key: KeyEvent) -> Vec<Command> {
        // Actions address the workload by id: the selected row's own stack.
        let selected = self
            .selected_workload()
            .map(|w| (w.id.clone(), w.kind == WorkloadKind::Service));
        let label = |id: &str| self.label(id).to_string();
        match key.code {
            KeyCode::Char('q') => return vec![Command::Quit],
            KeyCode::Esc => {
                self.notice = None;
                self.search = None;
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Home | KeyCode::Char('g') => self.move_to(0),
            KeyCode::End | KeyCode::Char('G') => self.move_to(self.workloads.len()),
            KeyCode::PageUp => self.log_scroll = self.log_scroll.saturating_add(10),
            KeyCode::PageDown => self.log_scroll = self.log_scroll.saturating_sub(10),
            KeyCode::Char('r') | KeyCode::Char('x') => match selected {
                Some((workload, true)) => {
                    let action = if key.code == KeyCode::Char('r') {
                        Action::Restart
                    } else {
                        Action::Stop
                    };
                    self.mode = Mode::Confirm { action, workload };
                }
                Some((workload, false)) => self.refuse(format!(
                    "{} is a job: only services can be restarted or stopped",
                    label(&workload)
                )),
                None => self.refuse("no service selected".into()),
            },
            KeyCode::Char('s') => match selected {
                Some((workload, true)) => {
                    self.notice = Some(Notice {
                        text: format!("{}: start requested…", label(&workload)),
                        error: false,
                    });
                    return vec![Command::Start(workload)];
                }
                Some((workload, false)) => self.refuse(format!(
                    "{} is a job: only services can be started",
                    label(&workload)
                )),
                None => self.refuse("no service selected".into()),
            },
            KeyCode::Char('c') => match selected {
                Some((workload, true)) => {
                    let replicas = self
                        .selected_workload()
                        .map_or(1, |w| w.replicas)
                        .to_string();
                    self.mode = Mode::Scale {
                        workload,
                        input: replicas,
                        fresh: true,
                        error: None,
                    };
                }
                Some((workload, false)) => self.refuse(format!(
                    "{} is a job: only services can be scaled",
                    label(&workload)
                )),
                None => self.refuse("no service selected".into()),
            },
            KeyCode::Char('l') => {
                self.log_level = next_min_level(self.log_level);
                self.log_scroll = 0;
            }
            KeyCode::Char('f') => {
                let input = self
                    .log_regex
                    .as_ref()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default();
                self.mode = Mode::Filter { input, error: None };
            }
            KeyCode::Char('a') => {
                self.log_all = !self.log_all;
                self.log_scroll = 0;
            }
            KeyCode::Char('/') => {
                self.mode = Mode::Search {
                    input: String::new(),
                }
            }
            KeyCode::Char('n') => self.next_match(false),
            KeyCode::Char('d') => self.show_graph = !self.show_graph,
            KeyCode::Char('m') => {
                self.copy_mode = !self.copy_mode;
                if !self.copy_mode {
                    self.log_scroll = 0;
                }
                return vec![Command::MouseCapture(!self.copy_mode)];
            }
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => self.mode = Mode::Help,
            _ => {}
        }
        Vec::new()
    }

    fn refuse(&mut self, text: String) {
        self.notice = Some(Notice { text, error: true });
    }

    fn move_by(&mut self, delta: isize) {
        let target = self.selected.saturating_add_signed(delta);
        self.move_to(target);
    }

    fn move_to(&mut self, index: usize) {
        let before = self.selected;
        self.selected = index;
        self.clamp();
        if before != self.selected && !self.log_all {
            self.log_scroll = 0;
        }
    }

    /// Selects the next workload whose name contains the search text (from the selected
    /// one itself when `include_current`).
    fn next_match(&mut self, include_current: bool) {
        let Some(text) = self.search.as_ref().map(|s| s.to_lowercase()) else {
            return;
        };
        let n = self.workloads.len();
        let start = if include_current { 0 } else { 1 };
        let found = (start..n + start)
            .map(|k| (self.selected + k) % n.max(1))
            .find(|&i| {
                self.workloads
                    .get(i)
                    .is_some_and(|w| w.name.to_lowercase().contains(&text))
            });
        match found {
            Some(i) => self.move_to(i),
            None => self.refuse(format!("no workload matches `{text}`")),
        }
    }

    /// How far along a job's latest run is: `run 2: 3/5 tasks done, 1 running`; `job` is
    /// its id, `STACK/NAME`.
    pub fn job_progress(&self, job: &str) -> Option<String> {
        let progress = self.jobs.get(job)?;
        let total = job
            .split_once('/')
            .and_then(|(stack, name)| self.topology(stack)?.tasks.get(name))
            .map_or(progress.tasks.len(), Vec::len);
        let count = |s: TaskState| progress.tasks.values().filter(|t| **t == s).count();
        let done = count(TaskState::Succeeded);
        let mut text = format!("run {}: {done}/{total} tasks succeeded", progress.run);
        for (state, word) in [
            (TaskState::Running, "running"),
            (TaskState::Failed, "failed"),
            (TaskState::Skipped, "skipped"),
        ] {
            let n = count(state);
            if n > 0 {
                text.push_str(&format!(", {n} {word}"));
            }
        }
        Some(text)
    }
}

/// Edits an input line with a key: a character appended, Backspace.
fn edit(input: &mut String, key: KeyEvent) {
    match key.code {
        KeyCode::Char(c) if input.chars().count() < 200 => input.push(c),
        KeyCode::Backspace => {
            input.pop();
        }
        _ => {}
    }
}

/// `demo/web` → `web`.
pub fn short_name(id: &str) -> &str {
    id.split_once('/').map_or(id, |(_, name)| name)
}

/// An event's object split into the workload's name and the rest: `demo/web-0` →
/// (`web`, `-0`), `demo/etl#3/load` → (`etl/load`, …), `demo` → (`""`, `demo`).
fn split_object(object: &str) -> (String, &str) {
    let Some((_, rest)) = object.split_once('/') else {
        return (String::new(), object);
    };
    if let Some((job, run_task)) = rest.split_once('#') {
        let task = run_task.split_once('/').map(|(_, t)| t);
        return match task {
            Some(task) => (format!("{job}/{task}"), run_task),
            None => (job.to_string(), run_task),
        };
    }
    match rest.rsplit_once('-') {
        Some((name, replica))
            if !replica.is_empty() && replica.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (name.to_string(), replica)
        }
        _ => (rest.to_string(), ""),
    }
}

/// `demo/etl#3/load` → (`demo/etl`, 3, `load`).
fn task_of(object: &str) -> Option<(String, u64, &str)> {
    let (stack, rest) = object.split_once('/')?;
    let (job, run_task) = rest.split_once('#')?;
    let (run, task) = run_task.split_once('/')?;
    Some((format!("{stack}/{job}"), run.parse().ok()?, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_objects_name_their_workload() {
        assert_eq!(split_object("demo/web-0").0, "web");
        assert_eq!(split_object("demo/web-api-12").0, "web-api");
        assert_eq!(split_object("demo/web").0, "web");
        assert_eq!(split_object("demo/etl#3/load").0, "etl/load");
        assert_eq!(split_object("demo/etl#3").0, "etl");
        assert_eq!(split_object("demo").0, "");
        assert_eq!(
            task_of("demo/etl#3/load"),
            Some(("demo/etl".to_string(), 3, "load"))
        );
        assert_eq!(task_of("demo/web-0"), None);
    }
}
