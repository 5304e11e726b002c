//! `orco schema`: the JSON Schema of the stack file.

use crate::exit;

pub(crate) fn run() -> anyhow::Result<u8> {
    println!(
        "{}",
        serde_json::to_string_pretty(&orco_spec::schema::json_schema())?
    );
    Ok(exit::OK)
}
