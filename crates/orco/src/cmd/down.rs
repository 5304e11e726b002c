//! `orco down`: stop the stack's services, dependents first, then remove the stack. Waits
//! (up to the longest stop timeout and then some) for the orderly stop; the removal stops
//! whatever is left. `--volumes` removes the stack's named volumes too.

use std::time::{Duration, Instant};

use crate::args::DownArgs;
use crate::exit;
use crate::remote::{self, Failure};

/// How long `down` waits for the orderly stop before removing the stack anyway.
const ORDERLY: Duration = Duration::from_secs(60);

pub(crate) fn run(args: &DownArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = crate::autostart::client(&args.connect).await?;
        let stack = remote::stack(&client, &args.stack).await?;
        client.stop_stack(&stack).await?;
        let deadline = Instant::now() + ORDERLY;
        loop {
            let list = client.instances(Some(&stack), None, None).await?;
            let live: Vec<&str> = list
                .items
                .iter()
                .filter(|i| i.phase.is_live())
                .map(|i| i.name.as_str())
                .collect();
            if live.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "orco: still stopping after {ORDERLY:?} ({}); removing the stack anyway",
                    live.join(", ")
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if args.volumes {
            let accepted = client.remove_stack_and_volumes(&stack).await?;
            println!(
                "stack {stack} removed, its volumes once its containers are gone (revision {})",
                accepted.revision
            );
        } else {
            let accepted = client.remove_stack(&stack).await?;
            println!("stack {stack} removed (revision {})", accepted.revision);
        }
        Ok::<u8, Failure>(exit::OK)
    })
}
