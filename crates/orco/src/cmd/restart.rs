//! `orco restart [SERVICE|INSTANCE]`: restart a service's instances (or one instance), once, through their stop policy; every service of the stack without a target.

use crate::args::TargetArgs;
use crate::remote::{self, Action};

pub(crate) fn run(args: &TargetArgs) -> anyhow::Result<u8> {
    remote::run(remote::act(Action::Restart, args))
}
