//! Helpers of the conversion tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;

use orco_compose::{Converted, Options, convert_str};
use orco_spec::diag::{Report, Severity};

/// Converts `text` (in `dir`) with `env`, where only the images in `images` exist.
pub fn convert_in(
    dir: &Path,
    text: &str,
    env: &[(&str, &str)],
    images: &[&str],
) -> Result<Converted, Report> {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let exists = |image: &str| images.contains(&image);
    let options = Options {
        project: Some("demo"),
        env: &env,
        image_exists: &exists,
        profiles: &[],
        services: &[],
    };
    convert_str(Path::new("compose.yaml"), text, dir, &options)
}

/// Converts `text` with no environment and no local images.
pub fn convert(text: &str) -> Result<Converted, Report> {
    convert_in(Path::new("."), text, &[], &[])
}

/// Converts `text`, which must succeed.
pub fn ok(text: &str) -> Converted {
    match convert(text) {
        Ok(c) => c,
        Err(report) => panic!("conversion failed:\n{report}"),
    }
}

/// Converts `text`, which must fail; its errors.
pub fn errors(text: &str) -> Vec<(u32, String)> {
    match convert(text) {
        Ok(_) => panic!("conversion succeeded"),
        Err(report) => report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| (d.line, d.message.clone()))
            .collect(),
    }
}

/// The warnings of a conversion: (line, message).
pub fn warnings(c: &Converted) -> Vec<(u32, String)> {
    c.loaded
        .warnings
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| (d.line, d.message.clone()))
        .collect()
}
