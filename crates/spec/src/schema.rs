//! The JSON Schema of the stack file, generated from the model so that the two cannot drift.

use crate::model::Stack;

/// The JSON Schema (draft 2020-12) of a stack file.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Stack).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            "https://orco.dev/schema/stack-0.1.json".into(),
        );
    }
    schema
}
