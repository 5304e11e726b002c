//! The resolved compose model (interpolated, `include` and `extends` merged, `profiles`
//! applied) written the way `docker compose config` writes it, so that the two can be diffed:
//! `name` first, keys sorted, the short forms of `ports`, `volumes`, `depends_on`,
//! `environment` and `command` written long, env files read into `environment`, relative
//! bind sources absolute, and the `default` network named `PROJECT_default`.

use std::collections::BTreeMap;
use std::path::Path;

use orco_spec::node::{Node, Value as Yaml};
use serde_json::{Map, Value, json};

use crate::convert::short_ports;
use crate::words;

fn key_text(node: &Node) -> String {
    node.scalar_text().unwrap_or_default()
}

fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.value {
        Yaml::Map(entries) => entries,
        _ => &[],
    }
}

/// A YAML node as JSON, keys sorted.
fn plain(node: &Node) -> Value {
    match &node.value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Int(i) => {
            i64::try_from(*i).map_or_else(|_| Value::String(i.to_string()), Value::from)
        }
        Yaml::Float(f) => json!(f),
        Yaml::Str(s) => Value::String(s.clone()),
        Yaml::Seq(items) => Value::Array(items.iter().map(plain).collect()),
        Yaml::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), plain(v)))
                .collect(),
        ),
    }
}

/// What writing the model needs from outside.
pub(crate) struct Context<'a> {
    pub(crate) project: &'a str,
    pub(crate) dir: &'a Path,
    pub(crate) vars: &'a BTreeMap<String, String>,
}

/// The model as `docker compose config` prints it.
pub(crate) fn to_yaml(root: &Node, cx: &Context<'_>) -> String {
    let mut services = Map::new();
    let mut uses_default = false;
    if let Some(list) = root.get("services") {
        for (k, v) in entries(list) {
            let (service, default) = service(v, cx);
            uses_default |= default;
            services.insert(key_text(k), service);
        }
    }
    let mut out = serde_saphyr::to_string(&json!({ "name": cx.project })).unwrap_or_default();
    out.push_str(&serde_saphyr::to_string(&json!({ "services": services })).unwrap_or_default());
    let mut rest = Map::new();
    for (k, v) in entries(root) {
        let key = key_text(k);
        if matches!(key.as_str(), "name" | "services" | "version" | "include") {
            continue;
        }
        let mut value = plain(v);
        if matches!(key.as_str(), "networks" | "volumes") {
            // Each gets its engine name, as compose gives it.
            if let Value::Object(items) = &mut value {
                for (name, item) in items.iter_mut() {
                    if item.is_null() {
                        *item = json!({});
                    }
                    if let Value::Object(fields) = item
                        && !fields.contains_key("name")
                    {
                        fields.insert("name".into(), json!(format!("{}_{name}", cx.project)));
                    }
                }
            }
        }
        rest.insert(key, value);
    }
    if uses_default {
        let networks = rest.entry("networks").or_insert_with(|| json!({}));
        if let Value::Object(networks) = networks {
            networks
                .entry("default")
                .or_insert_with(|| json!({ "name": format!("{}_default", cx.project) }));
        }
    }
    if !rest.is_empty() {
        out.push_str(&serde_saphyr::to_string(&Value::Object(rest)).unwrap_or_default());
    }
    out
}

/// One service, long forms written out; whether it is on the default network.
fn service(node: &Node, cx: &Context<'_>) -> (Value, bool) {
    let mut out = Map::new();
    let mut env = Map::new();
    let mut env_files = Vec::new();
    for (k, v) in entries(node) {
        let key = key_text(k);
        let value = match key.as_str() {
            "command" | "entrypoint" => match &v.value {
                Yaml::Str(text) => words::split(text).map_or_else(|_| plain(v), |w| json!(w)),
                _ => plain(v),
            },
            "environment" => {
                environment(v, cx, &mut env);
                continue;
            }
            "env_file" => {
                env_files = env_file_list(v);
                continue;
            }
            "depends_on" => depends_on(v),
            "ports" => ports(v),
            "volumes" => volumes(v, cx),
            "healthcheck" => {
                let mut h = plain(v);
                if let Value::Object(fields) = &mut h
                    && let Some(Value::String(test)) = fields.get("test").cloned()
                {
                    fields.insert("test".into(), json!(["CMD-SHELL", test]));
                }
                h
            }
            _ => plain(v),
        };
        out.insert(key, value);
    }
    // Env files first, `environment` over them, as compose reads them.
    let mut merged = Map::new();
    for (path, required) in env_files {
        let full = cx.dir.join(&path);
        if !required && !full.is_file() {
            continue;
        }
        if let Ok(pairs) = orco_runtime::dotenv::read(&full) {
            for (k, v) in pairs {
                merged.insert(k, Value::String(v));
            }
        }
    }
    merged.extend(env);
    if !merged.is_empty() {
        out.insert("environment".into(), Value::Object(merged));
    }
    let default = !out.contains_key("networks") && !out.contains_key("network_mode");
    if default {
        out.insert("networks".into(), json!({ "default": null }));
    }
    (Value::Object(out), default)
}

fn environment(node: &Node, cx: &Context<'_>, env: &mut Map<String, Value>) {
    let mut put = |k: String, v: Option<String>| {
        // A bare name takes the environment's value, or is left out.
        match v.or_else(|| cx.vars.get(&k).cloned()) {
            Some(v) => {
                env.insert(k, Value::String(v));
            }
            None => {
                env.remove(&k);
            }
        }
    };
    match &node.value {
        Yaml::Map(entries) => {
            for (k, v) in entries {
                put(key_text(k), v.scalar_text());
            }
        }
        Yaml::Seq(items) => {
            for item in items {
                let text = key_text(item);
                match text.split_once('=') {
                    Some((k, v)) => put(k.to_string(), Some(v.to_string())),
                    None => put(text, None),
                }
            }
        }
        _ => {}
    }
}

fn env_file_list(node: &Node) -> Vec<(String, bool)> {
    let one = |n: &Node| -> Option<(String, bool)> {
        match &n.value {
            Yaml::Map(_) => Some((
                n.get("path")?.scalar_text()?,
                n.get("required")
                    .is_none_or(|r| r.value != Yaml::Bool(false)),
            )),
            _ => n.scalar_text().map(|p| (p, true)),
        }
    };
    match &node.value {
        Yaml::Seq(items) => items.iter().filter_map(one).collect(),
        _ => one(node).into_iter().collect(),
    }
}

fn depends_on(node: &Node) -> Value {
    let long = |condition: Value, extra: Option<&Node>| {
        let mut m = Map::new();
        m.insert("condition".into(), condition);
        m.insert("required".into(), Value::Bool(true));
        if let Some(Value::Object(fields)) = extra.map(plain) {
            m.extend(fields);
        }
        Value::Object(m)
    };
    match &node.value {
        Yaml::Seq(items) => Value::Object(
            items
                .iter()
                .map(|i| (key_text(i), long(json!("service_started"), None)))
                .collect(),
        ),
        Yaml::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), long(json!("service_started"), Some(v))))
                .collect(),
        ),
        _ => plain(node),
    }
}

fn ports(node: &Node) -> Value {
    let Yaml::Seq(items) = &node.value else {
        return plain(node);
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Yaml::Map(_) => {
                let mut m = Map::new();
                m.insert("mode".into(), json!("ingress"));
                m.insert("protocol".into(), json!("tcp"));
                if let Value::Object(fields) = plain(item) {
                    m.extend(fields);
                }
                if let Some(p) = m.get("published").cloned()
                    && !p.is_string()
                {
                    m.insert("published".into(), Value::String(p.to_string()));
                }
                out.push(Value::Object(m));
            }
            _ => match short_ports(&key_text(item)) {
                Ok(mappings) => {
                    for p in mappings {
                        let mut m = Map::new();
                        m.insert("mode".into(), json!("ingress"));
                        if let Some(ip) = p.ip {
                            m.insert("host_ip".into(), json!(ip.to_string()));
                        }
                        m.insert("target".into(), json!(p.target));
                        if !p.is_ephemeral() {
                            m.insert("published".into(), json!(p.published.to_string()));
                        }
                        let proto = match p.protocol {
                            orco_spec::Protocol::Tcp => "tcp",
                            orco_spec::Protocol::Udp => "udp",
                        };
                        m.insert("protocol".into(), json!(proto));
                        out.push(Value::Object(m));
                    }
                }
                Err(_) => out.push(plain(item)),
            },
        }
    }
    Value::Array(out)
}

fn volumes(node: &Node, cx: &Context<'_>) -> Value {
    let Yaml::Seq(items) = &node.value else {
        return plain(node);
    };
    let absolute = |source: &str| -> String {
        if source.starts_with('/') {
            source.to_string()
        } else {
            crate::resolve::clean(&cx.dir.join(source))
                .display()
                .to_string()
        }
    };
    let out = items
        .iter()
        .map(|item| {
            let Yaml::Str(text) = &item.value else {
                let mut v = plain(item);
                if let Value::Object(fields) = &mut v
                    && fields.get("type") == Some(&json!("bind"))
                    && let Some(Value::String(source)) = fields.get("source").cloned()
                {
                    fields.insert("source".into(), json!(absolute(&source)));
                }
                return v;
            };
            let parts: Vec<&str> = text.split(':').collect();
            match parts.as_slice() {
                [target] => json!({ "type": "volume", "target": target }),
                [source, target, rest @ ..] => {
                    let bind = source.starts_with(['.', '/', '~']);
                    let mut m = Map::new();
                    if bind {
                        m.insert("type".into(), json!("bind"));
                        m.insert("source".into(), json!(absolute(source)));
                    } else {
                        m.insert("type".into(), json!("volume"));
                        m.insert("source".into(), json!(source));
                    }
                    m.insert("target".into(), json!(target));
                    let options: Vec<&str> = rest.iter().flat_map(|o| o.split(',')).collect();
                    if options.contains(&"ro") {
                        m.insert("read_only".into(), json!(true));
                    }
                    if bind {
                        m.insert("bind".into(), json!({ "create_host_path": true }));
                    } else {
                        m.insert("volume".into(), json!({}));
                    }
                    Value::Object(m)
                }
                [] => plain(item),
            }
        })
        .collect();
    Value::Array(out)
}
