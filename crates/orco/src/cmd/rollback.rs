//! `orco rollback SERVICE [--to REV]`: return a service to an earlier revision of its spec,
//! through the same rolling path as any change, and follow it.

use crate::args::RollbackArgs;
use crate::cmd::rollout::{FOLLOW, follow};
use crate::exit;
use crate::remote;

pub(crate) fn run(args: &RollbackArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = crate::autostart::client(&args.connect).await?;
        let timeout = remote::wait_timeout(&args.connect, FOLLOW)?;
        let stack = remote::stack(&client, &args.stack).await?;
        let id = remote::qualify(&stack, &args.service);
        let accepted = client.rollback(&id, args.to).await?;
        let view = client.rollout(&id).await?;
        println!(
            "{id}: rolling back to the spec of revision {} as revision {} (event revision {})",
            args.to
                .map_or_else(|| "before".to_string(), |r| r.to_string()),
            view.current,
            accepted.revision
        );
        if args.detach {
            return Ok(exit::OK);
        }
        follow(&client, &id, timeout).await
    })
}
