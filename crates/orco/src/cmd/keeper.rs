//! `orco keeper --dir DIR [--foreground]` (hidden): the node keeper, which owns instance
//! processes across engine restarts. Started by the engine, not by people.

use crate::exit;

pub(crate) fn run(args: &[String]) -> anyhow::Result<u8> {
    let config = match orco_runtime::keeper::KeeperConfig::from_args(args.iter().cloned()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}\nusage: orco keeper --dir DIR [--foreground]");
            return Ok(exit::USAGE);
        }
    };
    orco_runtime::keeper::run(config)?;
    Ok(exit::OK)
}
