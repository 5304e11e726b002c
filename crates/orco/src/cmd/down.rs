//! `orco down`: remove the stack (its instances are stopped by the engine).

use crate::args::DownArgs;
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &DownArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let stack = remote::stack(&client, &args.stack).await?;
        let accepted = client.remove_stack(&stack).await?;
        println!("stack {stack} removed (revision {})", accepted.revision);
        Ok::<u8, Failure>(exit::OK)
    })
}
