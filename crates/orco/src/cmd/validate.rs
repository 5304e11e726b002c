//! `orco validate`: load the stack file and report every problem, or a one-line summary.

use crate::cli::{Output, ValidateArgs};
use crate::discover::{self, Failure};
use crate::exit;

pub(crate) fn run(args: &ValidateArgs) -> anyhow::Result<u8> {
    if args.output != Output::Table {
        return structured(args);
    }
    let loaded = match discover::load_selected(
        args.file.file.as_deref(),
        discover::Selection {
            profiles: &args.file.profiles,
            services: &[],
        },
    ) {
        Ok(loaded) => loaded,
        Err(Failure(code)) => return Ok(code),
    };
    let stack = &loaded.stack;
    let layers = orco_spec::graph(stack)
        .layers()
        .map(|l| l.len())
        .unwrap_or(0);
    println!(
        "{}: stack `{}` is valid: {} service{}, {} job{}, {} start layer{}",
        loaded.warnings.file.display(),
        stack.stack.name,
        stack.services.len(),
        plural(stack.services.len()),
        stack.jobs.len(),
        plural(stack.jobs.len()),
        layers,
        plural(layers),
    );
    Ok(exit::OK)
}

/// `-o json|yaml`: `{file, valid, diagnostics: [...]}` on stdout, whatever the outcome.
fn structured(args: &ValidateArgs) -> anyhow::Result<u8> {
    let dir = std::env::current_dir()?;
    let path = match discover::find(args.file.file.as_deref(), &dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let (valid, report) = match discover::load_path(
        &path,
        discover::Selection {
            profiles: &args.file.profiles,
            services: &[],
        },
    ) {
        Ok(loaded) => (true, loaded.warnings),
        Err(report) => (false, report),
    };
    let out = serde_json::json!({
        "file": path,
        "valid": valid,
        "diagnostics": report.diagnostics,
    });
    print!("{}", crate::output::render(&out, args.output)?);
    Ok(if valid { exit::OK } else { exit::USAGE })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
