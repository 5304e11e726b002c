//! `orco job` (also `orco workflow`): submit runs of a stack file's jobs, list runs, show one
//! run's task graph, retry its failed and skipped tasks, cancel it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use comfy_table::Cell;
use orco_wire::JobState;
use orco_wire::job::JobRunView;
use orco_wire::model::EventView;

use crate::args::{ConnectArgs, FormatArg};
use crate::discover;
use crate::exit;
use crate::remote::{self, Failure};

/// `orco job …`.
#[derive(Debug, Args)]
pub(crate) struct JobArgs {
    #[command(subcommand)]
    pub(crate) verb: JobVerb,
}

/// The job verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum JobVerb {
    /// Submit runs of a stack file's jobs (every job, or those named with --job).
    Submit(JobSubmitArgs),
    /// Every job run.
    List(JobListArgs),
    /// One run: its tasks with state, attempts, duration, exit code and message.
    Status(JobIdArgs),
    /// Follow a run live, one line per task with a progress bar, until it ends; exits 0 when
    /// it succeeded, 1 when it failed or was cancelled.
    Monitor(JobIdArgs),
    /// Run the failed and skipped tasks of a finished run again.
    Retry(JobIdArgs),
    /// Cancel a run: nothing more starts and its running tasks are stopped.
    Cancel(JobIdArgs),
}

/// `orco job submit`.
#[derive(Debug, Args)]
pub(crate) struct JobSubmitArgs {
    /// The stack file holding the jobs. `stack:` may be left out of a file of jobs alone: the
    /// stack is then named after the file (`backup.yaml` → `backup`).
    pub(crate) file: PathBuf,
    /// Only this job (repeatable).
    #[arg(long = "job", value_name = "NAME")]
    pub(crate) jobs: Vec<String>,
    /// Wait until the runs end; exit 1 unless every one succeeded.
    #[arg(long)]
    pub(crate) wait: bool,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco job list`.
#[derive(Debug, Args)]
pub(crate) struct JobListArgs {
    /// Only this stack's runs and schedules.
    #[arg(long, value_name = "NAME")]
    pub(crate) stack: Option<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// A verb on one run.
#[derive(Debug, Args)]
pub(crate) struct JobIdArgs {
    /// The run: `STACK/JOB#RUN`, `JOB#RUN`, or `JOB` for its latest run.
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

pub(crate) fn run(args: &JobArgs) -> anyhow::Result<u8> {
    match &args.verb {
        JobVerb::Submit(a) => {
            let loaded = match discover::load_jobs(&a.file) {
                Ok(loaded) => loaded,
                Err(discover::Failure(code)) => return Ok(code),
            };
            remote::run(submit(a, loaded.stack))
        }
        JobVerb::List(a) => remote::run(list(a)),
        JobVerb::Status(a) => remote::run(status(a)),
        JobVerb::Monitor(a) => remote::run(crate::cmd::monitor::monitor(a)),
        JobVerb::Retry(a) => remote::run(action(a, "retry")),
        JobVerb::Cancel(a) => remote::run(action(a, "cancel")),
    }
}

async fn submit(args: &JobSubmitArgs, stack: orco_spec::Stack) -> Result<u8, Failure> {
    let client = crate::autostart::client(&args.connect).await?;
    let submitted = client.submit_jobs(&stack, &args.jobs).await?;
    if !args.wait {
        if !remote::print_structured(&submitted, args.format.output)? {
            for run in &submitted.runs {
                println!("{run}");
            }
        }
        return Ok(exit::OK);
    }
    wait_finished(
        &client,
        &submitted.runs,
        submitted.revision.saturating_sub(1),
    )
    .await?;
    let mut views = Vec::new();
    for run in &submitted.runs {
        views.push(client.job(run).await?);
    }
    let all_ok = views.iter().all(|v| v.state == JobState::Succeeded);
    if !remote::print_structured(&views, args.format.output)? {
        for view in &views {
            print_run(view);
        }
    }
    Ok(if all_ok { exit::OK } else { exit::FAILURE })
}

/// Waits until every run of `runs` has finished. It follows the event log from `after` for
/// `job_finished` events only, so that a big job is not fetched whole again and again; if
/// the stream cannot be followed (or falls behind), it asks for each run every 100 ms.
async fn wait_finished(
    client: &orco_client::Client,
    runs: &[String],
    after: u64,
) -> Result<(), Failure> {
    let mut pending: BTreeSet<&str> = runs.iter().map(String::as_str).collect();
    if let Ok(mut events) = client.events(after, true, &["job_finished"]).await {
        while !pending.is_empty() {
            match events.next().await {
                Ok(Some(message)) if message.event == "event" => {
                    if let Ok(view) = serde_json::from_str::<EventView>(&message.data) {
                        pending.remove(view.object.as_str());
                    }
                }
                _ => break,
            }
        }
    }
    for run in pending {
        while client.job(run).await?.finished_at.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn list(args: &JobListArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let mut list = client.jobs().await?;
    if let Some(stack) = &args.stack {
        // Ids are `STACK/JOB#N`; schedules name `STACK/JOB`.
        let prefix = format!("{stack}/");
        list.items.retain(|run| run.id.starts_with(&prefix));
        list.schedules.retain(|s| s.job.starts_with(&prefix));
    }
    if remote::print_structured(&list, args.format.output)? {
        return Ok(exit::OK);
    }
    let mut table = remote::table(&["RUN", "STATE", "TASKS", "PRIORITY", "SUBMITTED", "DUE"]);
    for run in &list.items {
        let done = run.tasks.iter().filter(|t| t.state.is_finished()).count();
        table.add_row(vec![
            Cell::new(&run.id),
            remote::state_cell(run.state),
            Cell::new(format!("{done}/{}", run.tasks.len())),
            Cell::new(run.priority),
            Cell::new(run.submitted_at.to_string()),
            Cell::new(run.due.map_or_else(|| "-".into(), |d| d.to_string())),
        ]);
    }
    remote::print_table(&table);
    if !list.schedules.is_empty() {
        println!();
        let mut table = remote::table(&[
            "SCHEDULE",
            "CRON",
            "TIMEZONE",
            "OVERLAP",
            "NEXT DUE",
            "RUNS",
            "SKIPPED",
            "MISSED",
            "LAST SKIP",
        ]);
        for s in &list.schedules {
            let last_skip = match (&s.last_skipped_due, &s.last_skip_reason) {
                (Some(at), Some(why)) => format!("{at}: {why}"),
                _ => "-".into(),
            };
            table.add_row(vec![
                Cell::new(&s.job),
                Cell::new(&s.cron),
                Cell::new(&s.timezone),
                Cell::new(match s.overlap {
                    orco_spec::Overlap::Skip => "skip",
                    orco_spec::Overlap::Queue => "queue",
                    orco_spec::Overlap::Allow => "allow",
                }),
                Cell::new(s.next_due.map_or_else(|| "-".into(), |d| d.to_string())),
                Cell::new(s.runs),
                Cell::new(s.skipped),
                Cell::new(s.missed),
                Cell::new(last_skip),
            ]);
        }
        remote::print_table(&table);
    }
    Ok(exit::OK)
}

async fn status(args: &JobIdArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let view = client.job(&args.id).await?;
    if !remote::print_structured(&view, args.format.output)? {
        print_run(&view);
    }
    Ok(exit::OK)
}

async fn action(args: &JobIdArgs, verb: &str) -> Result<u8, Failure> {
    let client = crate::autostart::client(&args.connect).await?;
    let accepted = client.job_action(&args.id, verb).await?;
    if !remote::print_structured(&accepted, args.format.output)? {
        println!(
            "{} {verb} requested (revision {})",
            args.id, accepted.revision
        );
    }
    Ok(exit::OK)
}

/// A run as a heading and a table of its tasks.
fn print_run(view: &JobRunView) {
    println!("{}  {}", view.id, view.state);
    let mut table = remote::table(&[
        "TASK",
        "STATE",
        "DEPENDS ON",
        "ATTEMPTS",
        "DURATION",
        "EXIT",
        "PROGRESS",
        "MESSAGE",
    ]);
    for t in &view.tasks {
        let exit = match (t.exit_code, t.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "-".into(),
        };
        table.add_row(vec![
            Cell::new(&t.name),
            remote::state_cell(t.state),
            Cell::new(if t.depends_on.is_empty() {
                "-".to_string()
            } else {
                t.depends_on.join(", ")
            }),
            Cell::new(t.attempts),
            Cell::new(t.duration_ms.map_or_else(|| "-".into(), duration)),
            Cell::new(exit),
            Cell::new(t.percent.map_or_else(|| "-".into(), |p| format!("{p}%"))),
            Cell::new(t.message.as_deref().unwrap_or("")),
        ]);
    }
    remote::print_table(&table);
}

fn duration(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}s", ms / 1000)
    }
}
