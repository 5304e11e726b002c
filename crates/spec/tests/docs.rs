//! `docs/stack-file.md`, the JSON Schema and the loader's key lists name the same keys.
//!
//! The schema is walked to the set of key paths: `$ref`s resolve into `$defs`, an optional
//! value (`anyOf` of one schema and `null`) is that schema, a map of named objects
//! (`additionalProperties`) adds a `NAME` segment and a list of objects (`items`) a `[]`
//! segment. Maps and lists of scalars (`env`, `ports`) are keys without children. The keys of
//! `defaults`, and the `resources` and `placement` of jobs and tasks, take the shape of the
//! service keys of the same name, so they are documented once, under `services.NAME`; a test below checks that the shapes are indeed the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use orco_spec::load::keys;
use serde_json::Value;

/// One key of the stack file as the schema describes it.
#[derive(Debug)]
struct Key {
    /// The property's own schema (where `default` and `description` live).
    schema: Value,
    /// Whether the enclosing object lists it in `required`.
    required: bool,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn docs_path() -> PathBuf {
    repo_root().join("docs/stack-file.md")
}

fn docs() -> String {
    let path = docs_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn schema() -> Value {
    orco_spec::schema::json_schema()
}

fn definitions(root: &Value) -> &serde_json::Map<String, Value> {
    root["$defs"]
        .as_object()
        .expect("the schema has $defs (schemars puts every named type there)")
}

/// The definition name a `$ref` points at: `#/$defs/Health` → `Health`.
fn ref_name(s: &Value) -> Option<&str> {
    s.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

/// The one schema of an optional value: `anyOf: [X, {type: null}]` → `X`.
fn strip_null(s: &Value) -> &Value {
    let branches = s.get("anyOf").and_then(Value::as_array);
    if let Some(branches) = branches {
        let non_null: Vec<&Value> = branches
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [one] = non_null[..] {
            return one;
        }
    }
    s
}

/// Follows `$ref`s and optional wrappers to the schema that describes the value's shape.
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    let s = strip_null(s);
    match ref_name(s) {
        Some(name) => {
            let def = definitions(root)
                .get(name)
                .unwrap_or_else(|| panic!("`$ref` to `{name}`, which is not in $defs"));
            resolve(root, def)
        }
        None => s,
    }
}

fn has_properties(s: &Value) -> bool {
    s.get("properties").is_some_and(Value::is_object)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Adds the keys of the object schema `object` (found at `path`) and of everything below.
fn walk(root: &Value, object: &Value, path: &str, out: &mut BTreeMap<String, Key>) {
    let required: BTreeSet<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let key_path = join(path, name);
        out.insert(
            key_path.clone(),
            Key {
                schema: property.clone(),
                required: required.contains(name.as_str()),
            },
        );
        // `defaults.X` has the shape of `services.NAME.X`, documented there; so do the
        // `resources` and `placement` of jobs and tasks.
        if path != "defaults" && !shaped_like_a_service_key(&key_path) {
            descend(root, property, &key_path, out);
        }
    }
}

/// `jobs.NAME.resources`, `jobs.NAME.tasks.NAME.placement` and the like: keys whose children
/// are those of `services.NAME.resources` and `services.NAME.placement`.
fn shaped_like_a_service_key(path: &str) -> bool {
    path.starts_with("jobs.") && (path.ends_with(".resources") || path.ends_with(".placement"))
}

fn descend(root: &Value, property: &Value, path: &str, out: &mut BTreeMap<String, Key>) {
    let value = resolve(root, property);
    if has_properties(value) {
        walk(root, value, path, out);
        return;
    }
    if let Some(entry) = value.get("additionalProperties").filter(|v| v.is_object()) {
        let entry = resolve(root, entry);
        if has_properties(entry) {
            walk(root, entry, &format!("{path}.NAME"), out);
        }
        return;
    }
    if let Some(item) = value.get("items") {
        let item = resolve(root, item);
        if has_properties(item) {
            walk(root, item, &format!("{path}[]"), out);
        }
    }
}

fn schema_keys() -> BTreeMap<String, Key> {
    let root = schema();
    let mut out = BTreeMap::new();
    walk(&root, &root, "", &mut out);
    out
}

/// A key's section in the docs: its heading's line number and the lines up to the next heading.
#[derive(Debug)]
struct Section {
    line: usize,
    body: Vec<String>,
}

/// The key headings of the reference part (everything from the first `## Reference`), in
/// order. Every `###` heading there must be a key written as `` ### `path` ``.
fn doc_sections(text: &str) -> Result<Vec<(String, Section)>, Vec<String>> {
    let mut sections: Vec<(String, Section)> = Vec::new();
    let mut problems = Vec::new();
    let mut in_reference = false;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.starts_with("## ") {
            in_reference = line.starts_with("## Reference");
            continue;
        }
        if !in_reference {
            continue;
        }
        if let Some(heading) = line.strip_prefix("### ") {
            let key = heading
                .strip_prefix('`')
                .and_then(|h| h.strip_suffix('`'))
                .filter(|k| !k.is_empty() && !k.contains('`') && !k.contains(' '));
            match key {
                Some(key) => sections.push((
                    key.to_string(),
                    Section {
                        line: number,
                        body: Vec::new(),
                    },
                )),
                None => problems.push(format!(
                    "line {number}: `{line}` is not a key heading (### `path.of.key`)"
                )),
            }
        } else if line.starts_with('#') {
            problems.push(format!(
                "line {number}: only `###` key headings belong in the reference part: `{line}`"
            ));
        } else if let Some((_, section)) = sections.last_mut() {
            section.body.push(line.to_string());
        }
    }
    if problems.is_empty() {
        Ok(sections)
    } else {
        Err(problems)
    }
}

fn sections() -> Vec<(String, Section)> {
    doc_sections(&docs()).unwrap_or_else(|problems| {
        panic!(
            "{}: malformed headings:\n  {}",
            docs_path().display(),
            problems.join("\n  ")
        )
    })
}

/// The `Type: … · Default: …` line of a section, split in its two halves.
fn type_and_default(section: &Section) -> Option<(&str, &str)> {
    let first = section.body.iter().find(|l| !l.trim().is_empty())?;
    first.strip_prefix("Type: ")?.split_once(" · Default: ")
}

/// How a default is written in the docs: `2s`, `[200]`, `[stdout, stderr]`, `{}`.
fn render(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let items: Option<Vec<String>> = items.iter().map(render).collect();
            Some(format!("[{}]", items?.join(", ")))
        }
        Value::Object(m) if m.is_empty() => Some("{}".into()),
        Value::Object(_) | Value::Null => None,
    }
}

#[test]
fn every_schema_key_has_exactly_one_heading_in_the_docs_and_every_heading_is_a_schema_key() {
    let schema: BTreeSet<String> = schema_keys().into_keys().collect();
    let sections = sections();
    let mut seen = BTreeMap::new();
    let mut duplicated = Vec::new();
    for (key, section) in &sections {
        if let Some(first) = seen.insert(key.clone(), section.line) {
            duplicated.push(format!("{key} (lines {first} and {})", section.line));
        }
    }
    let documented: BTreeSet<String> = seen.into_keys().collect();
    let undocumented: Vec<&String> = schema.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&schema).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty() && duplicated.is_empty(),
        "docs/stack-file.md and the JSON Schema disagree.\n\
         keys of the schema without a heading: {undocumented:#?}\n\
         headings that are no key of the schema: {unknown:#?}\n\
         headings written twice: {duplicated:#?}"
    );
}

#[test]
fn the_walk_of_the_schema_reaches_the_nested_keys_of_services_and_jobs() {
    let keys = schema_keys();
    for key in [
        "version",
        "stack.workdir",
        "defaults.health",
        "services.NAME.health.http.expectStatus",
        "services.NAME.dependsOn[].require",
        "services.NAME.restartPolicy.backoff.factor",
        "jobs.NAME.schedule.overlap",
        "jobs.NAME.tasks.NAME.retry.backoff.min",
        "jobs.NAME.tasks.NAME.dependsOn[].require",
        "jobs.NAME.dependsOn[].timeout",
    ] {
        assert!(keys.contains_key(key), "the walk misses `{key}`");
    }
    for not_a_key in [
        "defaults.health.interval",
        "services.NAME.env.NAME",
        "services.NAME.ports[]",
    ] {
        assert!(
            !keys.contains_key(not_a_key),
            "the walk went into `{not_a_key}`"
        );
    }
}

#[test]
fn every_key_heading_is_followed_by_a_type_and_default_line_and_an_example() {
    let mut problems = Vec::new();
    for (key, section) in sections() {
        match type_and_default(&section) {
            Some((ty, default)) if !ty.trim().is_empty() && !default.trim().is_empty() => {}
            _ => problems.push(format!(
                "line {}: `{key}` is not followed by `Type: … · Default: …`",
                section.line
            )),
        }
        let has_example = section
            .body
            .iter()
            .any(|l| l.starts_with("Example: `") || l.starts_with("```yaml"));
        if !has_example {
            problems.push(format!(
                "line {}: `{key}` has no example (`Example: `…`` or a yaml block)",
                section.line
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_documented_defaults_and_required_keys_agree_with_the_schema() {
    let keys = schema_keys();
    let mut problems = Vec::new();
    for (path, section) in sections() {
        let (Some(key), Some((_, default))) = (keys.get(&path), type_and_default(&section)) else {
            continue; // reported by the tests above
        };
        if key.required && !default.contains("required") {
            problems.push(format!(
                "`{path}` is required by the schema, but the docs say `Default: {default}`"
            ));
        }
        if let Some(expected) = key.schema.get("default").and_then(render) {
            let written = format!("`{expected}`");
            if !default.contains(&written) {
                problems.push(format!(
                    "`{path}`: the schema's default is {written}, the docs say `Default: {default}`"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_keys_of_defaults_have_the_shape_of_the_service_keys_of_the_same_name() {
    let root = schema();
    let defs = definitions(&root);
    let defaults = defs["Defaults"]["properties"]
        .as_object()
        .expect("Defaults has properties");
    let service = &defs["Service"]["properties"];
    for (name, property) in defaults {
        let of_service = service
            .get(name)
            .unwrap_or_else(|| panic!("`defaults.{name}` is no key of a service"));
        let shape = ref_name(strip_null(property));
        assert!(shape.is_some(), "`defaults.{name}` is not a `$ref`");
        assert_eq!(
            shape,
            ref_name(strip_null(of_service)),
            "`defaults.{name}` and `services.NAME.{name}` have different shapes"
        );
    }
}

/// Each object definition of the schema and the loader's list of its keys.
fn loader_keys() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("Stack", keys::STACK),
        ("StackMeta", keys::META),
        ("Defaults", keys::DEFAULTS),
        ("Service", keys::SERVICE),
        ("Dependency", keys::DEPENDENCY),
        ("Health", keys::HEALTH),
        ("HttpProbe", keys::HTTP),
        ("TcpProbe", keys::TCP),
        ("CmdProbe", keys::CMD),
        ("LogProbe", keys::LOG),
        ("RestartPolicy", keys::RESTART),
        ("Backoff", keys::BACKOFF),
        ("StopPolicy", keys::STOP),
        ("UpdatePolicy", keys::UPDATE),
        ("Job", keys::JOB),
        ("Schedule", keys::SCHEDULE),
        ("Task", keys::TASK),
        ("Retry", keys::RETRY),
        ("TaskDependency", keys::TASK_DEPENDENCY),
        ("Resources", keys::RESOURCES),
        ("Limits", keys::LIMITS),
        ("Placement", keys::PLACEMENT),
        ("Spread", keys::SPREAD),
        ("SecretRef", keys::SECRET_REF),
    ])
}

fn property_names(object: &Value) -> BTreeSet<String> {
    object
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn each_object_definition_of_the_schema_has_the_keys_the_loader_accepts() {
    let root = schema();
    let defs = definitions(&root);
    let mut problems = Vec::new();
    for (name, list) in loader_keys() {
        let object = if name == "Stack" {
            &root
        } else {
            match defs.get(name) {
                Some(def) => def,
                None => {
                    problems.push(format!("`{name}` is not a definition of the schema"));
                    continue;
                }
            }
        };
        let in_schema = property_names(object);
        let in_loader: BTreeSet<String> = list.iter().map(|k| k.to_string()).collect();
        if in_loader.len() != list.len() {
            problems.push(format!("the loader's list for `{name}` names a key twice"));
        }
        if in_schema != in_loader {
            let only_schema: Vec<&String> = in_schema.difference(&in_loader).collect();
            let only_loader: Vec<&String> = in_loader.difference(&in_schema).collect();
            problems.push(format!(
                "`{name}`: only in the schema {only_schema:?}, only in the loader {only_loader:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_schema_definition_with_properties_has_a_loader_key_list() {
    let root = schema();
    let mapped = loader_keys();
    let unmapped: Vec<&String> = definitions(&root)
        .iter()
        .filter(|(name, def)| has_properties(def) && !mapped.contains_key(name.as_str()))
        .map(|(name, _)| name)
        .collect();
    assert!(
        unmapped.is_empty(),
        "object definitions without a list in `orco_spec::load::keys`: {unmapped:?}"
    );
    assert!(
        has_properties(&root),
        "the schema's root is the Stack object"
    );
}

#[test]
fn the_complete_stacks_shown_in_the_docs_validate() {
    let text = docs();
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut current, line) {
            (None, "```yaml") => current = Some((i + 2, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, block)), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    let stacks: Vec<&(usize, String)> = blocks
        .iter()
        .filter(|(_, b)| b.starts_with("version:"))
        .collect();
    assert!(!stacks.is_empty(), "the docs show no complete stack file");
    let dir = repo_root().join("docs");
    for (line, block) in stacks {
        let name = PathBuf::from(format!("docs/stack-file.md:{line}"));
        if let Err(report) = orco_spec::load_str(&name, block, &dir) {
            panic!("the stack at docs/stack-file.md:{line} does not validate:\n{report}");
        }
    }
}

#[test]
fn the_resources_and_placement_of_jobs_and_tasks_have_the_shape_of_a_service_s() {
    let root = schema();
    let defs = definitions(&root);
    let shape = |def: &str, key: &str| -> Option<String> {
        let property = &defs[def]["properties"][key];
        ref_name(strip_null(property))
            .or_else(|| ref_name(property))
            .map(str::to_string)
    };
    for key in ["resources", "placement"] {
        let service = shape("Service", key);
        assert!(service.is_some(), "`services.NAME.{key}` is not a `$ref`");
        assert_eq!(shape("Job", key), service, "`jobs.NAME.{key}`");
        assert_eq!(shape("Task", key), service, "`jobs.NAME.tasks.NAME.{key}`");
    }
}
