//! `orco history NAME`: every event that touched a stack, service or instance, and who asked
//! for it (a token's name, or `socket`).

use crate::args::HistoryArgs;
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &HistoryArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let names_a_stack = !args.name.contains('/')
            && args.stack.stack.is_none()
            && args.stack.file.is_none()
            && client
                .stacks(None)
                .await?
                .items
                .iter()
                .any(|s| s.name == args.name);
        let object = if args.name.contains('/') || names_a_stack {
            args.name.clone()
        } else {
            let stack = remote::stack(&client, &args.stack).await?;
            remote::qualify(&stack, &args.name)
        };
        let history = client.history(&object, None).await?;
        if remote::print_structured(&history, args.format.output)? {
            return Ok(exit::OK);
        }
        if history.items.is_empty() {
            println!("no event touched {object}");
        }
        for view in &history.items {
            let at = view.at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ");
            match &view.by {
                Some(by) => println!("{:>6}  {at}  {}  (by {by})", view.revision, view.summary),
                None => println!("{:>6}  {at}  {}", view.revision, view.summary),
            }
        }
        if history.horizon > 0 {
            println!("(events up to revision {} were compacted)", history.horizon);
        }
        Ok::<u8, Failure>(exit::OK)
    })
}
