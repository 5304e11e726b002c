//! `orco convert FILE`: a compose file as the equivalent stack file, on stdout; what orco
//! does not support is listed on stderr with its line.

use crate::cli::ConvertArgs;
use crate::discover;
use crate::exit;

pub(crate) fn run(args: &ConvertArgs) -> anyhow::Result<u8> {
    let colour = discover::colour_stderr();
    match discover::convert_compose(
        &args.file,
        args.project_name.as_deref(),
        discover::Selection {
            profiles: &args.profiles,
            services: &[],
        },
    ) {
        Ok(converted) => {
            if !converted.loaded.warnings.diagnostics.is_empty() {
                eprint!("{}", converted.loaded.warnings.render(colour));
            }
            print!("{}", converted.yaml);
            Ok(exit::OK)
        }
        Err(report) => {
            eprint!("{}", report.render(colour));
            Ok(exit::USAGE)
        }
    }
}
