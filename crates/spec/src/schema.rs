//! The JSON Schema of the stack file, generated from the model so that the two cannot drift.
//!
//! The derive describes the types; [`json_schema`] then states what the loader checks beyond
//! the types (name patterns, number ranges, which `require` values fit where), so that an
//! editor flags what `orco validate` would reject.

use serde_json::{Value, json};

use crate::model::Stack;

/// The pattern every stack, service, job and task name matches.
pub const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,62}$";

/// The JSON Schema (draft 2020-12) of a stack file.
pub fn json_schema() -> Value {
    let mut schema = schemars::schema_for!(Stack).to_value();
    schema["$id"] = json!("https://orco.dev/schema/stack-0.1.json");
    let name = json!({"pattern": NAME_PATTERN});
    schema["properties"]["services"]["propertyNames"] = name.clone();
    schema["properties"]["jobs"]["propertyNames"] = name.clone();
    let defs = &mut schema["$defs"];
    defs["StackMeta"]["properties"]["name"]["pattern"] = json!(NAME_PATTERN);
    defs["Job"]["properties"]["tasks"]["propertyNames"] = name;
    defs["Job"]["properties"]["tasks"]["minProperties"] = json!(1);

    // A workload's dependency: `failed` is only for tasks, and the default depends on the
    // target's kind, so the schema names none.
    let require = &mut defs["Dependency"]["properties"]["require"];
    let description = require["description"].clone();
    *require = json!({
        "enum": ["exists", "started", "ready", "succeeded", "completed"],
        "description": description,
    });
    let task_require = &mut defs["TaskDependency"]["properties"]["require"];
    let description = task_require["description"].clone();
    *task_require = json!({
        "enum": ["succeeded", "failed", "completed"],
        "default": "succeeded",
        "description": description,
    });

    let status = json!({"type": "integer", "minimum": 100, "maximum": 599});
    let expect = &mut defs["HttpProbe"]["properties"]["expectStatus"];
    let description = expect["description"].clone();
    *expect = json!({
        "anyOf": [status.clone(), {"type": "array", "items": status, "minItems": 1}],
        "default": [200],
        "description": description,
    });
    defs["TcpProbe"]["properties"]["port"]["minimum"] = json!(1);
    defs["Health"]["properties"]["successThreshold"]["minimum"] = json!(1);
    defs["Health"]["properties"]["failureThreshold"]["minimum"] = json!(1);
    defs["Backoff"]["properties"]["factor"]["minimum"] = json!(1.0);
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_pattern_agrees_with_the_loader() {
        let re = regex::Regex::new(NAME_PATTERN).unwrap();
        for name in ["web", "api-2", "a_b", "0x", "a", &"x".repeat(63)] {
            assert!(re.is_match(name) && crate::load::valid_name(name), "{name}");
        }
        for name in ["", "Web", "-a", "_a", "a.b", "a b", &"x".repeat(64)] {
            assert!(
                !re.is_match(name) && !crate::load::valid_name(name),
                "{name}"
            );
        }
    }

    #[test]
    fn the_fix_ups_land_on_existing_properties() {
        let s = json_schema();
        let defs = &s["$defs"];
        assert_eq!(
            defs["Dependency"]["properties"]["require"]["enum"][2],
            "ready"
        );
        assert!(defs["Dependency"]["properties"]["require"]["description"].is_string());
        assert!(defs["HttpProbe"]["properties"]["expectStatus"]["description"].is_string());
        assert_eq!(defs["TcpProbe"]["properties"]["port"]["type"], "integer");
        assert_eq!(
            defs["Health"]["properties"]["failureThreshold"]["type"],
            "integer"
        );
        assert_eq!(defs["Backoff"]["properties"]["factor"]["type"], "number");
    }
}
