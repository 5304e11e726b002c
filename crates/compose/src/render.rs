//! The converted stack as stack-file YAML, without the keys that only repeat a default.

use orco_spec::Stack;
use serde_json::Value;

use crate::convert::blank_service;

/// Writes `stack` as a stack file: `version` and `stack` first, then the services with
/// only the keys whose values differ from the defaults (a converted service always states
/// its restart policy, since compose restarts nothing by default and orco restarts always).
pub fn to_yaml(stack: &Stack) -> String {
    let blank = serde_json::to_value(blank_service()).unwrap_or(Value::Null);
    let mut services = serde_json::Map::new();
    for (name, service) in &stack.services {
        let mut value = serde_json::to_value(service).unwrap_or(Value::Null);
        if let (Value::Object(fields), Value::Object(defaults)) = (&mut value, &blank) {
            fields.retain(|key, v| key == "restartPolicy" || defaults.get(key) != Some(v));
            // `runtime: docker` follows from `image`.
            if fields.get("runtime") == Some(&Value::String("docker".into()))
                && fields.contains_key("image")
            {
                fields.remove("runtime");
            }
            if let Some(Value::Object(health)) = fields.get_mut("health") {
                let defaults = serde_json::json!({
                    "gracePeriod": "0s", "interval": "2s", "timeout": "1s",
                    "successThreshold": 1, "failureThreshold": 3, "onFailure": "none",
                });
                health.retain(|k, v| defaults.get(k) != Some(v));
            }
            if let Some(Value::Array(deps)) = fields.get_mut("dependsOn") {
                for dep in deps {
                    if let Value::Object(dep) = dep
                        && dep.get("restart") == Some(&Value::Bool(false))
                    {
                        dep.remove("restart");
                    }
                }
            }
            if let Some(Value::Object(policy)) = fields.get_mut("restartPolicy") {
                let default_policy = defaults.get("restartPolicy").and_then(Value::as_object);
                if let Some(default_policy) = default_policy {
                    policy.retain(|k, v| k == "mode" || default_policy.get(k) != Some(v));
                }
            }
        }
        services.insert(name.clone(), value);
    }
    let head = serde_json::json!({
        "name": stack.stack.name,
        "workdir": stack.stack.workdir,
    });
    let mut out = String::from("version: 0.1\n");
    out.push_str(
        &serde_saphyr::to_string(&serde_json::json!({ "stack": head })).unwrap_or_default(),
    );
    if !services.is_empty() {
        out.push_str(
            &serde_saphyr::to_string(&serde_json::json!({ "services": Value::Object(services) }))
                .unwrap_or_default(),
        );
    } else {
        out.push_str("services: {}\n");
    }
    if !stack.secrets.is_empty() {
        out.push_str(
            &serde_saphyr::to_string(&serde_json::json!({ "secrets": stack.secrets }))
                .unwrap_or_default(),
        );
    }
    out
}
