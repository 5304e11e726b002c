//! Structured output for scripts: the same value as JSON or YAML (`-o json|yaml`).

use crate::cli::Output;

/// Renders `value` in `format`, ending with a newline. `table` has no generic form: each verb
/// prints its own table, so it falls back to JSON here.
pub(crate) fn render(value: &serde_json::Value, format: Output) -> anyhow::Result<String> {
    Ok(match format {
        Output::Yaml => serde_saphyr::to_string(value)?,
        Output::Json | Output::Table => serde_json::to_string_pretty(value)? + "\n",
    })
}
