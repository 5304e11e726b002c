//! `orco logs [SERVICE|INSTANCE] [--since 10m] [-f] [--grep RE]` and `orco instance logs`:
//! the structured log of a stack, history then (with `-f`) the live tail. People get
//! `api-0 | message` lines; `-o json` prints the NDJSON records as the daemon keeps them.

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
    let query = |key: &'static str, target: Option<&str>| -> Vec<(&'static str, Option<String>)> {
        vec![
            ("stack", stack.clone()),
            (key, target.map(str::to_string)),
            ("since", args.since.clone()),
            ("grep", args.grep.clone()),
            ("level", args.level.clone()),
            ("tail", tail.clone()),
            ("follow", Some(follow.clone())),
        ]
    };
    let reader = match (instance, target) {
        (Some(i), _) => open(&client, &query("instance", Some(i))).await?,
        (None, None) => open(&client, &query("workload", None)).await?,
        // A name is a service (or job) first, else an instance (`SERVICE-N`).
        (None, Some(name)) => match open(&client, &query("workload", Some(name))).await {
            Err(Failure::Client(e)) if e.code() == Some("workload_not_found") => {
                open(&client, &query("instance", Some(name))).await?
            }
            other => other?,
        },
    };
    print(reader, &client, args.format.output).await
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
        match format {
            Format::Json => println!("{}", String::from_utf8_lossy(&line)),
            Format::Yaml => {
                let value: serde_json::Value = serde_json::from_slice(&line)
                    .map_err(|e| Failure::Usage(format!("unreadable log record: {e}")))?;
                println!("---");
                remote::print_structured(&value, Format::Yaml)?;
            }
            Format::Table | Format::Wide => {
                if let Some(record) = Record::from_json_line(&line) {
                    let name = record
                        .instance
                        .clone()
                        .unwrap_or_else(|| "orco".to_string());
                    let text = match (format, record.level) {
                        (Format::Wide, Some(level)) => {
                            format!("{} {} {}", record.ts, level.as_str(), record.msg)
                        }
                        (Format::Wide, None) => format!("{} {}", record.ts, record.msg),
                        _ => record.msg,
                    };
                    printer.line(&name, &text);
                } else if let Ok(lost) = serde_json::from_slice::<serde_json::Value>(&line)
                    && let Some(n) = lost.get("lost").and_then(serde_json::Value::as_u64)
                {
                    printer.orco(&format!("{n} records not shown (this reader was too slow)"));
                }
            }
        }
    }
}
