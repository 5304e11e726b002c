//! `orco apply -f FILE`: validate the stack file here, then submit the resolved stack.

use crate::args::ApplyArgs;
use crate::remote::{self, Failure};
use crate::{discover, exit};

pub(crate) fn run(args: &ApplyArgs) -> anyhow::Result<u8> {
    let loaded = match discover::load(args.file.file.as_deref()) {
        Ok(loaded) => loaded,
        Err(discover::Failure(code)) => return Ok(code),
    };
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let accepted = client.apply(&loaded.stack).await?;
        if remote::print_structured(&accepted, args.format.output)? {
            return Ok(exit::OK);
        }
        let name = &loaded.stack.stack.name;
        if accepted.events == 0 {
            println!("stack {name} unchanged (revision {})", accepted.revision);
        } else {
            println!("stack {name} applied (revision {})", accepted.revision);
        }
        Ok::<u8, Failure>(exit::OK)
    })
}
