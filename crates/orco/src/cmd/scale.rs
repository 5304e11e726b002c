//! `orco scale SERVICE N`: set a service's replica count until the next apply.

use crate::args::ScaleArgs;
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &ScaleArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = crate::autostart::client(&args.connect).await?;
        let stack = remote::stack(&client, &args.stack).await?;
        let id = remote::qualify(&stack, &args.service);
        let accepted = client.scale(&id, args.replicas).await?;
        if accepted.events == 0 {
            println!("{id} already has {} replicas", args.replicas);
        } else {
            println!(
                "{id} scaled to {} (revision {})",
                args.replicas, accepted.revision
            );
        }
        Ok::<u8, Failure>(exit::OK)
    })
}
