//! `orco-keeper --dir DIR [--foreground]`: the node keeper on its own, for tests; `orco`
//! runs the same [`orco_runtime::keeper::run`] as a hidden subcommand.

fn main() {
    let config = match orco_runtime::keeper::KeeperConfig::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("orco-keeper: {e}\nusage: orco-keeper --dir DIR [--foreground]");
            std::process::exit(2);
        }
    };
    if let Err(e) = orco_runtime::keeper::run(config) {
        eprintln!("orco-keeper: {e}");
        std::process::exit(1);
    }
}
