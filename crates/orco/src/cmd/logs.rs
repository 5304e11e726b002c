//! `orco logs [SERVICE|INSTANCE] [--since 10m] [-f] [--grep RE]` and `orco instance logs`:
//! the structured log of a stack, history then (with `-f`) the live tail. People get
//! `api-0 | message` lines; `-o json` prints the NDJSON records as the daemon keeps them.
//! Without a target or a stack, every stack's logs are shown (names `STACK/INSTANCE`) when
//! several are applied. A target may be `JOB/TASK`: that task's output in every run.

use orco_client::{Client, ClientError};
use orco_logs::Record;

use crate::args::{Format, LogsArgs, LogsVerbArgs};
use crate::exit;
use crate::printer::Printer;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &LogsVerbArgs) -> anyhow::Result<u8> {
    remote::run(logs(&args.logs, args.target.as_deref(), None))
}

/// Prints the logs `args` ask for, of `target` (a service, job or instance) or of one
/// `instance` (`orco instance logs`).
pub(crate) async fn logs(
    args: &LogsArgs,
    target: Option<&str>,
    instance: Option<&str>,
) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let stack = match (&args.stack, &args.file) {
        (None, None) => None,
        (stack, file) => Some(
            remote::stack(
                &client,
                &crate::args::StackArgs {
                    file: file.clone(),
                    stack: stack.clone(),
                },
            )
            .await?,
        ),
    };
    let tail = args.tail.map(|n| n.to_string());
    let follow = args.follow.to_string();
    let query = |stack: Option<String>,
                 key: &'static str,
                 target: Option<&str>|
     -> Vec<(&'static str, Option<String>)> {
        vec![
            ("stack", stack),
            (key, target.map(str::to_string)),
            ("since", args.since.clone()),
            ("grep", args.grep.clone()),
            ("level", args.level.clone()),
            ("tail", tail.clone()),
            ("follow", Some(follow.clone())),
        ]
    };
    let reader = match (instance, target) {
        (Some(i), _) => open(&client, &query(stack, "instance", Some(i))).await?,
        (None, None) if stack.is_none() => {
            let mut names: Vec<String> = client
                .stacks(None)
                .await?
                .items
                .into_iter()
                .map(|s| s.name)
                .collect();
            if names.len() > 1 {
                names.sort();
                let mut readers = Vec::new();
                for name in names {
                    readers.push(open(&client, &query(Some(name), "workload", None)).await?);
                }
                return print_several(readers, &client, args).await;
            }
            open(&client, &query(None, "workload", None)).await?
        }
        (None, None) => open(&client, &query(stack, "workload", None)).await?,
        // A name is a service (or job, or JOB/TASK) first, else an instance (`SERVICE-N`).
        (None, Some(name)) => {
            match open(&client, &query(stack.clone(), "workload", Some(name))).await {
                Err(Failure::Client(e)) if e.code() == Some("workload_not_found") => {
                    open(&client, &query(stack, "instance", Some(name))).await?
                }
                other => other?,
            }
        }
    };
    print(reader, &client, args.format.output).await
}

/// The logs of several stacks: history merged by time (at most `-n` records in all), then
/// with `-f` every stack's live records as they come. Names are `STACK/INSTANCE`.
async fn print_several(
    readers: Vec<orco_client::LineReader>,
    client: &Client,
    args: &LogsArgs,
) -> Result<u8, Failure> {
    let host = client.host().to_string();
    let broke = |e: String| {
        Failure::Client(ClientError::Protocol {
            host: host.clone(),
            detail: format!("the log stream broke: {e}"),
        })
    };
    let mut printer = Printer::new();
    let format = args.format.output;
    if !args.follow {
        let mut lines = Vec::new();
        for mut reader in readers {
            while let Some(line) = reader.next().await.map_err(broke)? {
                if !line.is_empty() {
                    let ts = Record::from_json_line(&line).map(|r| r.ts);
                    lines.push((ts, line));
                }
            }
        }
        lines.sort_by_key(|(ts, _)| *ts);
        let skip = args.tail.map_or(0, |n| lines.len().saturating_sub(n));
        for (_, line) in lines.into_iter().skip(skip) {
            print_line(&mut printer, &line, format, true)?;
        }
        return Ok(exit::OK);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, String>>(1024);
    for mut reader in readers {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let next = reader.next().await;
                let end = !matches!(next, Ok(Some(_)));
                let sent = match next {
                    Ok(Some(line)) => tx.send(Ok(line)).await,
                    Ok(None) => Ok(()),
                    Err(e) => tx.send(Err(e)).await,
                };
                if end || sent.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    while let Some(line) = rx.recv().await {
        let line = line.map_err(broke)?;
        if !line.is_empty() {
            print_line(&mut printer, &line, format, true)?;
        }
    }
    Ok(exit::OK)
}

async fn open(
    client: &Client,
    pairs: &[(&'static str, Option<String>)],
) -> Result<orco_client::LineReader, Failure> {
    let pairs: Vec<(&str, Option<&str>)> = pairs.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    Ok(client.logs(&pairs).await?)
}

async fn print(
    mut reader: orco_client::LineReader,
    client: &Client,
    format: Format,
) -> Result<u8, Failure> {
    let mut printer = Printer::new();
    loop {
        let line = reader.next().await.map_err(|e| {
            Failure::Client(ClientError::Protocol {
                host: client.host().to_string(),
                detail: format!("the log stream broke: {e}"),
            })
        })?;
        let Some(line) = line else {
            return Ok(exit::OK);
        };
        if line.is_empty() {
            continue;
        }
        print_line(&mut printer, &line, format, false)?;
    }
}

/// Prints one NDJSON record as `format` asks; `qualified` names instances `STACK/INSTANCE`.
fn print_line(
    printer: &mut Printer,
    line: &[u8],
    format: Format,
    qualified: bool,
) -> Result<(), Failure> {
    match format {
        Format::Json => println!("{}", String::from_utf8_lossy(line)),
        Format::Yaml => {
            let value: serde_json::Value = serde_json::from_slice(line)
                .map_err(|e| Failure::Usage(format!("unreadable log record: {e}")))?;
            println!("---");
            remote::print_structured(&value, Format::Yaml)?;
        }
        Format::Table | Format::Wide => {
            if let Some(record) = Record::from_json_line(line) {
                let mut name = record
                    .instance
                    .clone()
                    .unwrap_or_else(|| "orco".to_string());
                if qualified {
                    name = format!("{}/{name}", record.stack);
                }
                let text = match (format, record.level) {
                    (Format::Wide, Some(level)) => {
                        format!("{} {} {}", record.ts, level.as_str(), record.msg)
                    }
                    (Format::Wide, None) => format!("{} {}", record.ts, record.msg),
                    _ => record.msg,
                };
                printer.line(&name, &text);
            } else if let Ok(lost) = serde_json::from_slice::<serde_json::Value>(line)
                && let Some(n) = lost.get("lost").and_then(serde_json::Value::as_u64)
            {
                printer.orco(&format!("{n} records not shown (this reader was too slow)"));
            }
        }
    }
    Ok(())
}
