//! `orco start [SERVICE]`: start a stopped service again; every service of the stack without a target.

use crate::args::TargetArgs;
use crate::remote::{self, Action};

pub(crate) fn run(args: &TargetArgs) -> anyhow::Result<u8> {
    remote::run(remote::act(Action::Start, args))
}
