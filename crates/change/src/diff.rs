//! Key-by-key comparison of two values of the stack file's model, as the stack file names them.

use serde::Serialize;
use serde_json::Value;

/// One key whose value differs: its path in the stack file's names (`command`, `env.FOO`,
/// `health.http.url`) and its old and new value (`None` when the key is absent on that side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The key's path below the workload, dot-separated.
    pub field: String,
    /// The value before, rendered as in the stack file (lists and maps as compact JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

impl FieldChange {
    /// The top-level key of the workload this change is under (`health` for `health.http.url`).
    pub fn key(&self) -> &str {
        self.field.split('.').next().unwrap_or(&self.field)
    }
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        write!(
            f,
            "{}: {} → {}",
            self.field,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// Every key whose value differs between `old` and `new`, in key order. Maps are compared key
/// by key (so `env.FOO` is one change); scalars and lists are compared whole.
pub fn diff<T: Serialize>(old: &T, new: &T) -> Vec<FieldChange> {
    let old = serde_json::to_value(old).unwrap_or(Value::Null);
    let new = serde_json::to_value(new).unwrap_or(Value::Null);
    let mut out = Vec::new();
    walk("", Some(&old), Some(&new), &mut out);
    out
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(&child, a.get(key), b.get(key), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            field: path.to_string(),
            old: a.map(render),
            new: b.map(render),
        }),
    }
}

/// A value as it reads in the stack file: strings bare, everything else as compact JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_have_no_changes() {
        let v = json!({"command": ["sleep", "1"], "env": {"A": "1"}});
        assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn a_changed_scalar_shows_its_old_and_new_value() {
        let changes = diff(&json!({"replicas": 1}), &json!({"replicas": 3}));
        assert_eq!(
            changes,
            vec![FieldChange {
                field: "replicas".into(),
                old: Some("1".into()),
                new: Some("3".into()),
            }]
        );
        assert_eq!(changes[0].to_string(), "replicas: 1 → 3");
    }

    #[test]
    fn maps_are_compared_key_by_key_with_dotted_paths() {
        let changes = diff(
            &json!({"env": {"A": "1", "B": "2"}}),
            &json!({"env": {"A": "1", "B": "3", "C": "4"}}),
        );
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["env.B", "env.C"]);
        assert_eq!(changes[1].old, None);
        assert_eq!(changes[1].key(), "env");
    }

    #[test]
    fn lists_are_compared_whole_and_rendered_as_json() {
        let changes = diff(
            &json!({"command": ["sleep", "1"]}),
            &json!({"command": ["sleep", "2"]}),
        );
        assert_eq!(changes[0].old.as_deref(), Some(r#"["sleep","1"]"#));
        assert_eq!(changes[0].new.as_deref(), Some(r#"["sleep","2"]"#));
    }

    #[test]
    fn a_key_that_appears_or_disappears_is_a_change_with_one_side_missing() {
        let changes = diff(&json!({}), &json!({"image": "busybox"}));
        assert_eq!(changes[0].to_string(), "image: (none) → busybox");
        let changes = diff(&json!({"image": "busybox"}), &json!({}));
        assert_eq!(changes[0].new, None);
    }
}
