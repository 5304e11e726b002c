//! `orco config`: a compose file's resolved model (interpolation, `include`, `extends`,
//! `profiles` applied) printed the way `docker compose config` prints it, so the two can be
//! diffed; `--services` prints only the names of the services that would run.

use crate::cli::ConfigArgs;
use crate::discover;
use crate::exit;

pub(crate) fn run(args: &ConfigArgs) -> anyhow::Result<u8> {
    let colour = discover::colour_stderr();
    let dir = std::env::current_dir()?;
    let path = match discover::find(args.file.file.as_deref(), &dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    if !orco_compose::is_compose_file(&path) {
        eprintln!(
            "error: {} is not a compose file (it has a `stack:` key, or no `services:`): `orco config` prints a compose file's model; `orco validate` checks a stack file",
            path.display()
        );
        return Ok(exit::USAGE);
    }
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let options = orco_compose::Options {
        project: args.project_name.as_deref(),
        env: &env,
        image_exists: &|_| true,
        profiles: &args.file.profiles,
        services: &args.services,
    };
    match orco_compose::load_config(&path, &options) {
        Ok(config) => {
            if !config.warnings.diagnostics.is_empty() {
                eprint!("{}", config.warnings.render(colour));
            }
            if args.list_services {
                for name in &config.services {
                    println!("{name}");
                }
            } else {
                print!("{}", config.yaml);
            }
            Ok(exit::OK)
        }
        Err(report) => {
            eprint!("{}", report.render(colour));
            Ok(exit::USAGE)
        }
    }
}
