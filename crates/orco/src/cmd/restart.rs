//! `orco restart [SERVICE|INSTANCE] [--all]`: restart a service's instances (or one instance), once, through their stop policy: rolling through the replicas under the service's `update` bounds, or every replica at once with `--all`; every service of the stack without a target.

use crate::args::RestartArgs;
use crate::remote::{self, Action};

pub(crate) fn run(args: &RestartArgs) -> anyhow::Result<u8> {
    let action = if args.all {
        Action::RestartAll
    } else {
        Action::Restart
    };
    remote::run(remote::act(action, &args.target))
}
