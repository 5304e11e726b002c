//! What the API verbs share: connecting to the daemon, choosing the stack, resolving names,
//! turning failures into exit codes, and rendering tables and structured output.

use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

use comfy_table::{Cell, Color, ContentArrangement, Table};
use jiff::Timestamp;
use orco_client::{Client, ClientError, Host, Pin, Trust};
use orco_wire::{InstancePhase, JobState, NodeStatus, TaskState, WorkloadKind, WorkloadState};

use crate::args::{ConnectArgs, Format, StackArgs};
use crate::cli::Output;
use crate::exit;

/// Why an API verb failed, with the exit code it leads to.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The daemon (or reaching it) failed.
    Client(ClientError),
    /// Bad input found on this side (exit 2).
    Usage(String),
    /// The input was printed about already (exit with the code).
    Reported(u8),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::Client(e)
    }
}

/// The exit code DESIGN.md §9 gives a client error: 3 unreachable, 2 refused input, else 1.
pub(crate) fn exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Unreachable { .. } | ClientError::NotAnswering { .. } => exit::UNREACHABLE,
        _ if e.is_bad_input() => exit::USAGE,
        _ => exit::FAILURE,
    }
}

/// Prints a failure to stderr; its exit code.
pub(crate) fn report(failure: Failure) -> u8 {
    match failure {
        Failure::Client(e) => {
            eprintln!("error: {e}");
            if let ClientError::Api { error, .. } = &e {
                if let Some(field) = &error.field
                    && error.details.len() <= 1
                {
                    eprintln!("  at: {field}");
                }
                if error.details.len() > 1 {
                    for d in &error.details {
                        eprintln!("  {}: {}", d.field, d.message);
                    }
                }
            }
            exit_code(&e)
        }
        Failure::Usage(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
        Failure::Reported(code) => code,
    }
}

/// Runs an API verb on a single-threaded runtime and maps its failure to an exit code.
pub(crate) fn run<F>(verb: F) -> anyhow::Result<u8>
where
    F: Future<Output = Result<u8, Failure>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(match runtime.block_on(verb) {
        Ok(code) => code,
        Err(failure) => report(failure),
    })
}

/// `--timeout` of `args` as a duration (`None` when not given), or why it is not one.
pub(crate) fn timeout(args: &ConnectArgs) -> Result<Option<Duration>, Failure> {
    args.timeout
        .as_deref()
        .map(|text| {
            text.parse::<orco_spec::Duration>()
                .map(orco_spec::Duration::get)
                .map_err(|e| Failure::Usage(format!("--timeout {text}: {e}")))
                .and_then(|d| {
                    if d.is_zero() {
                        Err(Failure::Usage(format!(
                            "--timeout {text}: give a duration above zero, e.g. 30s"
                        )))
                    } else {
                        Ok(d)
                    }
                })
        })
        .transpose()
}

/// How long a verb that follows progress follows: `--timeout`, else `default`.
pub(crate) fn wait_timeout(args: &ConnectArgs, default: Duration) -> Result<Duration, Failure> {
    Ok(timeout(args)?.unwrap_or(default))
}

/// The client of a verb that follows progress: each of its calls is limited to the smaller
/// of `--timeout` and the default request limit.
pub(crate) fn waiting_client(args: &ConnectArgs) -> Result<Client, Failure> {
    let limit = timeout(args)?.map_or(orco_client::DEFAULT_TIMEOUT, |t| {
        t.min(orco_client::DEFAULT_TIMEOUT)
    });
    Ok(client(args)?.with_timeout(limit))
}

/// The client for `--host`/`ORCO_HOST`, `--token-file`/`ORCO_TOKEN` and `--timeout` (each
/// call's limit, default 10 s).
pub(crate) fn client(args: &ConnectArgs) -> Result<Client, Failure> {
    let host = match &args.host {
        Some(text) => Host::parse(text).map_err(|e| Failure::Usage(e.to_string()))?,
        None => Host::Unix(Host::default_socket()),
    };
    let token = match &args.token_file {
        Some(path) => Some(orco_client::read_token(path)?),
        None => std::env::var("ORCO_TOKEN")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    };
    let limit = timeout(args)?.unwrap_or(orco_client::DEFAULT_TIMEOUT);
    let client = Client::new(host, token).with_timeout(limit);
    Ok(client.with_trust(trust(args)?)?)
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// What an https:// daemon is trusted by: `--ca-file`/`ORCO_CA` (a file, or the PEM itself)
/// or `--ca-pin`/`ORCO_CA_PIN`.
fn trust(args: &ConnectArgs) -> Result<Trust, Failure> {
    match (nonempty(args.ca_file.as_deref()), nonempty(args.ca_pin.as_deref())) {
        (Some(_), Some(_)) => Err(Failure::Usage(
            "give the daemon's CA either as a file (--ca-file, ORCO_CA) or as a pin (--ca-pin, ORCO_CA_PIN), not both".to_string(),
        )),
        (Some(ca), None) if ca.starts_with("-----BEGIN") => Ok(Trust::Ca {
            pem: ca.to_string(),
            source: "ORCO_CA".to_string(),
        }),
        (Some(file), None) => {
            let pem = std::fs::read_to_string(file).map_err(|e| {
                Failure::Usage(format!("cannot read the CA file {file} (--ca-file, ORCO_CA): {e}"))
            })?;
            Ok(Trust::Ca {
                pem,
                source: file.to_string(),
            })
        }
        (None, Some(pin)) => pin
            .parse::<Pin>()
            .map(Trust::Pin)
            .map_err(|e| Failure::Usage(format!("--ca-pin (ORCO_CA_PIN): {e}"))),
        (None, None) => Ok(Trust::Nothing),
    }
}

/// The stack a verb works on: `-f FILE`'s `stack.name`, `--stack NAME`, or the only stack
/// applied.
pub(crate) async fn stack(client: &Client, args: &StackArgs) -> Result<String, Failure> {
    if let Some(name) = &args.stack {
        return Ok(name.clone());
    }
    if let Some(file) = &args.file {
        let loaded = crate::discover::load(Some(file)).map_err(|f| Failure::Reported(f.0))?;
        return Ok(loaded.stack.stack.name);
    }
    let stacks = client.stacks(None).await?;
    match stacks.items.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => Err(Failure::Usage(
            "no stack is applied: apply one with `orco apply -f FILE` or `orco up`".into(),
        )),
        many => Err(Failure::Usage(format!(
            "several stacks are applied ({}): pick one with --stack NAME or -f FILE",
            many.iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The stacks a reading verb shows: the one `-f FILE` or `--stack NAME` picks, else every
/// stack applied (by name; at `at` when given), or a usage error when none is.
pub(crate) async fn stacks(
    client: &Client,
    args: &StackArgs,
    at: Option<&str>,
) -> Result<Vec<String>, Failure> {
    if args.stack.is_some() || args.file.is_some() {
        return Ok(vec![stack(client, args).await?]);
    }
    let mut names: Vec<String> = client
        .stacks(at)
        .await?
        .items
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Failure::Usage(
            "no stack is applied: apply one with `orco apply -f FILE` or `orco up`".into(),
        ));
    }
    Ok(names)
}

/// `NAME` in `stack` as an id string (`STACK/NAME`), unless it is one already.
pub(crate) fn qualify(stack: &str, name: &str) -> String {
    if name.contains('/') {
        name.to_string()
    } else {
        format!("{stack}/{name}")
    }
}

/// Whether colour is on for stdout: never with `NO_COLOR`, always with `CLICOLOR_FORCE`,
/// else on a terminal.
pub(crate) fn colour() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    set("CLICOLOR_FORCE") || std::io::stdout().is_terminal()
}

/// A table with `header`, borderless like kubectl's.
pub(crate) fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| Cell::new(*h)));
    for column in table.column_iter_mut() {
        column.set_padding((0, 3));
    }
    if colour() {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// Prints a table, trimming the padding at the ends of lines.
pub(crate) fn print_table(table: &Table) {
    for line in table.to_string().lines() {
        println!("{}", line.trim_end());
    }
}

/// How well things are, by a state's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Green: running, succeeded, ready.
    Good,
    /// Red: failed, degraded.
    Bad,
    /// Yellow: on its way (pending, starting, restarting, stopping).
    Moving,
    /// No colour.
    Plain,
}

/// A state, phase or status of the API, with its word and its colour.
pub(crate) trait Toned {
    /// The word the API sends.
    fn word(&self) -> &'static str;
    /// Its colour.
    fn tone(&self) -> Tone;
}

impl Toned for WorkloadState {
    fn word(&self) -> &'static str {
        self.as_str()
    }
    fn tone(&self) -> Tone {
        match self {
            WorkloadState::Running | WorkloadState::Succeeded => Tone::Good,
            WorkloadState::Failed | WorkloadState::Degraded => Tone::Bad,
            WorkloadState::Restarting
            | WorkloadState::Starting
            | WorkloadState::Pending
            | WorkloadState::Stopping => Tone::Moving,
            WorkloadState::Stopped
            | WorkloadState::ScaledToZero
            | WorkloadState::NotRun
            | WorkloadState::Cancelled => Tone::Plain,
        }
    }
}

impl Toned for InstancePhase {
    fn word(&self) -> &'static str {
        self.as_str()
    }
    fn tone(&self) -> Tone {
        match self {
            InstancePhase::Running | InstancePhase::Succeeded => Tone::Good,
            InstancePhase::Failed => Tone::Bad,
            InstancePhase::Starting | InstancePhase::Pending | InstancePhase::Stopping => {
                Tone::Moving
            }
            InstancePhase::Stopped => Tone::Plain,
        }
    }
}

impl Toned for JobState {
    fn word(&self) -> &'static str {
        self.as_str()
    }
    fn tone(&self) -> Tone {
        match self {
            JobState::Running | JobState::Succeeded => Tone::Good,
            JobState::Failed => Tone::Bad,
            JobState::Queued | JobState::Cancelling | JobState::Cancelled => Tone::Plain,
        }
    }
}

impl Toned for TaskState {
    fn word(&self) -> &'static str {
        self.as_str()
    }
    fn tone(&self) -> Tone {
        match self {
            TaskState::Running | TaskState::Succeeded => Tone::Good,
            TaskState::Failed => Tone::Bad,
            TaskState::Starting => Tone::Moving,
            TaskState::Waiting | TaskState::Backoff | TaskState::Skipped => Tone::Plain,
        }
    }
}

impl Toned for NodeStatus {
    fn word(&self) -> &'static str {
        self.as_str()
    }
    fn tone(&self) -> Tone {
        match self {
            NodeStatus::Ready | NodeStatus::Left => Tone::Plain,
            NodeStatus::Unreachable => Tone::Moving,
            NodeStatus::Lost => Tone::Bad,
        }
    }
}

/// A state's cell, coloured by how well things are when colour is on.
pub(crate) fn state_cell(state: impl Toned) -> Cell {
    let cell = Cell::new(state.word());
    if !colour() {
        return cell;
    }
    match state.tone() {
        Tone::Good => cell.fg(Color::Green),
        Tone::Bad => cell.fg(Color::Red),
        Tone::Moving => cell.fg(Color::Yellow),
        Tone::Plain => cell,
    }
}

/// A container id as `docker ps` shows it (its first 12 characters), `-` for none.
pub(crate) fn short_container(id: Option<&str>) -> String {
    id.map_or_else(|| "-".to_string(), |id| id.chars().take(12).collect())
}

/// A short age: `42s`, `5m`, `3h`, `2d`.
pub(crate) fn age(since: Timestamp, as_of: Timestamp) -> String {
    let seconds = as_of.as_second().saturating_sub(since.as_second()).max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Prints `value` as JSON or YAML; `false` for the table formats (the caller prints one).
pub(crate) fn structured(value: &impl serde::Serialize, format: Format) -> anyhow::Result<bool> {
    let output = match format {
        Format::Json => Output::Json,
        Format::Yaml => Output::Yaml,
        Format::Table | Format::Wide => return Ok(false),
    };
    let value = serde_json::to_value(value)?;
    print!("{}", crate::output::render(&value, output)?);
    Ok(true)
}

/// [`structured`] for an async verb.
pub(crate) fn print_structured(
    value: &impl serde::Serialize,
    format: Format,
) -> Result<bool, Failure> {
    structured(value, format).map_err(|e| Failure::Usage(format!("cannot print the output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        assert_eq!(age(t0, at(5)), "5s");
        assert_eq!(age(t0, at(600)), "10m");
        assert_eq!(age(t0, at(3 * 3600)), "3h");
        assert_eq!(age(t0, at(3 * 86400)), "3d");
        assert_eq!(age(at(10), t0), "0s");
    }

    #[test]
    fn names_are_qualified_with_their_stack() {
        assert_eq!(qualify("demo", "web"), "demo/web");
        assert_eq!(qualify("demo", "other/web"), "other/web");
    }
}

/// `restart`, `stop` or `start`: what the verb asks of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Restart every instance once, replica by replica under the service's `update` bounds.
    Restart,
    /// Restart every instance once, all at once.
    RestartAll,
    /// Stop until started again.
    Stop,
    /// Start again after a stop.
    Start,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Restart | Action::RestartAll => "restart",
            Action::Stop => "stop",
            Action::Start => "start",
        }
    }

    /// What the daemon's answer means: `done()`, or that nothing was to do (a stop of a
    /// stopped service, a start of a running one).
    fn outcome(self, accepted: &orco_wire::model::Accepted) -> String {
        match (self, accepted.events) {
            (Action::Stop, 0) => "already stopped".to_string(),
            (Action::Start, 0) => "already running".to_string(),
            _ => format!("{} (revision {})", self.done(), accepted.revision),
        }
    }

    fn done(self) -> &'static str {
        match self {
            Action::Restart => "rolling restart requested",
            Action::RestartAll => "restart of every instance requested",
            Action::Stop => "stop requested",
            Action::Start => "start requested",
        }
    }
}

/// Asks for `action` on the workload `id`.
async fn workload_action(
    client: &Client,
    id: &str,
    action: Action,
) -> Result<orco_wire::model::Accepted, ClientError> {
    match action {
        Action::Restart => client.restart_workload(id, false).await,
        Action::RestartAll => client.restart_workload(id, true).await,
        Action::Stop | Action::Start => client.workload_action(id, action.word()).await,
    }
}

/// Runs `action` on a service or an instance of the selected stack, or on every service of
/// it when no target is given.
pub(crate) async fn act(action: Action, args: &crate::args::TargetArgs) -> Result<u8, Failure> {
    let client = crate::autostart::client(&args.connect).await?;
    let stack = stack(&client, &args.stack).await?;
    let Some(target) = &args.target else {
        let list = client.workloads(Some(&stack), None).await?;
        let mut code = exit::OK;
        for w in list
            .items
            .iter()
            .filter(|w| w.kind == WorkloadKind::Service)
        {
            match workload_action(&client, &w.id, action).await {
                Ok(accepted) => println!("{}: {}", w.name, action.outcome(&accepted)),
                Err(e) if e.code() == Some("no_instances") => {
                    println!("{}: no instance to restart yet", w.name);
                }
                Err(e) => {
                    code = report(Failure::Client(e));
                }
            }
        }
        return Ok(code);
    };
    let id = qualify(&stack, target);
    match client.workload(&id, None).await {
        Ok(_) => {
            let accepted = workload_action(&client, &id, action).await?;
            println!("{target}: {}", action.outcome(&accepted));
            return Ok(exit::OK);
        }
        Err(e) if e.code() == Some("workload_not_found") => {}
        Err(e) => return Err(e.into()),
    }
    let instance = match client.instance(&id, None).await {
        Ok(instance) => instance,
        Err(e) if e.code() == Some("instance_not_found") => {
            return Err(Failure::Usage(format!(
                "stack {stack} has no service or instance `{target}`: `orco status` and `orco ps` list them"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if !matches!(action, Action::Restart | Action::RestartAll) {
        return Err(Failure::Usage(format!(
            "`{target}` is an instance: {} works on services, e.g. `orco {} {}`",
            action.word(),
            action.word(),
            instance
                .workload
                .rsplit('/')
                .next()
                .unwrap_or(&instance.workload)
        )));
    }
    let accepted = client.restart_instance(&instance.id).await?;
    println!(
        "{target}: {} (revision {})",
        action.done(),
        accepted.revision
    );
    Ok(exit::OK)
}

/// A list answer of the API: items as of a revision and a moment.
pub(crate) trait Listing: Clone {
    /// The answer's revision, moment and items.
    fn parts(&mut self) -> (&mut u64, &mut Timestamp, &mut Vec<Self::Item>);
    /// One item.
    type Item: Clone;
}

impl Listing for orco_wire::model::InstanceList {
    type Item = orco_wire::model::InstanceView;
    fn parts(&mut self) -> (&mut u64, &mut Timestamp, &mut Vec<Self::Item>) {
        (&mut self.revision, &mut self.as_of, &mut self.items)
    }
}

impl Listing for orco_wire::model::WorkloadList {
    type Item = orco_wire::model::WorkloadView;
    fn parts(&mut self) -> (&mut u64, &mut Timestamp, &mut Vec<Self::Item>) {
        (&mut self.revision, &mut self.as_of, &mut self.items)
    }
}

/// Every stack's list in one (the latest revision and moment), for `-o json|yaml`.
pub(crate) fn merged<L: Listing>(lists: &[(String, L)]) -> Option<L> {
    let ((_, first), rest) = lists.split_first()?;
    let mut all = first.clone();
    for (_, list) in rest {
        let mut list = list.clone();
        let (revision, as_of, items) = list.parts();
        let (all_revision, all_as_of, all_items) = all.parts();
        *all_revision = (*all_revision).max(*revision);
        *all_as_of = (*all_as_of).max(*as_of);
        all_items.append(items);
    }
    Some(all)
}

/// Prints each stack's table; with several stacks, each under a `stack NAME` heading and a
/// blank line between them.
pub(crate) fn print_grouped<L>(lists: &[(String, L)], mut print: impl FnMut(&str, &L)) {
    let grouped = lists.len() > 1;
    for (i, (stack, list)) in lists.iter().enumerate() {
        if grouped {
            if i > 0 {
                println!();
            }
            println!("stack {stack}");
        }
        print(stack, list);
    }
}
