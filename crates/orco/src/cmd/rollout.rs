//! `orco rollout status SERVICE`: follow a service's latest rollout (its progress, until it is
//! complete or rolled back); also the follow that `apply` and `rollback` use.

use std::time::{Duration, Instant};

use orco_client::Client;
use orco_wire::RolloutStatus;

use crate::args::{RolloutArgs, RolloutCommand};
use crate::exit;
use crate::remote::{self, Failure};

/// How long a rollout is followed unless `--timeout` says otherwise.
pub(crate) const FOLLOW: Duration = Duration::from_secs(600);

/// How often a follow asks the daemon.
const POLL: Duration = Duration::from_millis(200);

pub(crate) fn run(args: &RolloutArgs) -> anyhow::Result<u8> {
    let RolloutCommand::Status(args) = &args.command;
    remote::run(async move {
        let client = remote::waiting_client(&args.connect)?;
        let timeout = remote::wait_timeout(&args.connect, FOLLOW)?;
        let stack = remote::stack(&client, &args.stack).await?;
        let id = remote::qualify(&stack, &args.service);
        let view = client.rollout(&id).await?;
        if remote::print_structured(&view, args.format.output)? {
            return Ok(exit::OK);
        }
        follow(&client, &id, timeout).await
    })
}

/// Follows the latest rollout of service `id` until it is complete (exit 0), rolled back
/// (exit 1, with the reason) or `timeout` passes (exit 1), printing its progress whenever it
/// changes.
pub(crate) async fn follow(client: &Client, id: &str, timeout: Duration) -> Result<u8, Failure> {
    let deadline = Instant::now() + timeout;
    let mut shown = String::new();
    loop {
        let view = client.rollout(id).await?;
        let Some(r) = view.rollout else {
            println!("{id}: revision {}, never rolled out", view.current);
            return Ok(exit::OK);
        };
        let line = match r.status {
            RolloutStatus::RollingBack => format!(
                "{id}: rolling back to revision {}: {}/{} replaced ({})",
                r.to,
                r.updated,
                view.replicas,
                r.reason.as_deref().unwrap_or("failed")
            ),
            _ => format!(
                "{id}: revision {} -> {}: {}/{} replaced",
                r.from, r.to, r.updated, view.replicas
            ),
        };
        match r.status {
            RolloutStatus::Complete => {
                println!("{id}: rollout to revision {} complete", r.to);
                return Ok(exit::OK);
            }
            RolloutStatus::RolledBack => {
                eprintln!(
                    "error: {id}: the rollout failed and was rolled back to the previous spec (now revision {}): {}",
                    r.to,
                    r.reason.as_deref().unwrap_or("no reason recorded")
                );
                return Ok(exit::FAILURE);
            }
            _ => {}
        }
        if line != shown {
            eprintln!("{line}");
            shown = line;
        }
        if Instant::now() >= deadline {
            eprintln!("error: {id}: the rollout did not finish within {timeout:?}: {shown}");
            return Ok(exit::FAILURE);
        }
        tokio::time::sleep(POLL).await;
    }
}
