//! `orco graph`: the dependency graph as start layers (default), Graphviz DOT or Mermaid.

use std::fmt::Write as _;

use orco_spec::{Require, Stack, WorkloadKind};

use crate::cli::{GraphArgs, Output};
use crate::discover::{self, Failure};
use crate::exit;

pub(crate) fn run(args: &GraphArgs) -> anyhow::Result<u8> {
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
    let text = if args.dot {
        dot(stack)
    } else if args.mermaid {
        mermaid(stack)
    } else if let Some(format @ (Output::Json | Output::Yaml)) = args.output {
        crate::output::render(&json(stack)?, format)?
    } else {
        layers(stack)?
    };
    print!("{text}");
    Ok(exit::OK)
}

/// One line per workload, grouped by start layer, each with what it waits for.
fn layers(stack: &Stack) -> anyhow::Result<String> {
    let layers = orco_spec::graph(stack).layers()?;
    let mut out = String::new();
    writeln!(
        out,
        "stack {}: {} start layer{}",
        stack.stack.name,
        layers.len(),
        if layers.len() == 1 { "" } else { "s" }
    )?;
    let width = layers.iter().flatten().map(String::len).max().unwrap_or(0);
    for (i, layer) in layers.iter().enumerate() {
        writeln!(out, "layer {i}")?;
        for name in layer {
            let (what, deps) = describe(stack, name);
            let waits: Vec<String> = deps
                .iter()
                .map(|(target, require, timeout)| match timeout {
                    Some(t) => format!("{target} ({}, timeout {t})", require.as_str()),
                    None => format!("{target} ({})", require.as_str()),
                })
                .collect();
            let waits = if waits.is_empty() {
                String::new()
            } else {
                format!("  <- {}", waits.join(", "))
            };
            writeln!(out, "  {name:<width$}  {what}{waits}")?;
        }
    }
    Ok(out)
}

type Edge = (String, Require, Option<orco_spec::Duration>);

/// A workload's kind and size, and its dependencies.
fn describe(stack: &Stack, name: &str) -> (String, Vec<Edge>) {
    let edges = |deps: &[orco_spec::Dependency]| {
        deps.iter()
            .map(|d| (d.target.clone(), d.require, d.timeout))
            .collect::<Vec<_>>()
    };
    match (stack.services.get(name), stack.jobs.get(name)) {
        (Some(s), _) => {
            let n = s.replicas;
            let what = format!(
                "{} service, {n} replica{}",
                s.runtime.as_str(),
                if n == 1 { "" } else { "s" }
            );
            (what, edges(&s.depends_on))
        }
        (None, Some(j)) => {
            let n = j.tasks.len();
            (
                format!("job, {n} task{}", if n == 1 { "" } else { "s" }),
                edges(&j.depends_on),
            )
        }
        (None, None) => (String::new(), Vec::new()),
    }
}

/// Graphviz DOT: an edge from each dependency to its dependent (start order), labelled with
/// the condition.
fn dot(stack: &Stack) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n",
        quote(&stack.stack.name)
    );
    for (name, kind, deps) in stack.dependencies() {
        let shape = match kind {
            WorkloadKind::Service => "box",
            WorkloadKind::Job => "ellipse",
        };
        out.push_str(&format!("  {} [shape={shape}];\n", quote(name)));
        for d in deps {
            out.push_str(&format!(
                "  {} -> {} [label={}];\n",
                quote(&d.target),
                quote(name),
                quote(d.require.as_str())
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart, in start order.
fn mermaid(stack: &Stack) -> String {
    let mut out = String::from("flowchart LR\n");
    for (name, kind, deps) in stack.dependencies() {
        match kind {
            WorkloadKind::Service => out.push_str(&format!("  {name}[{name}]\n")),
            WorkloadKind::Job => out.push_str(&format!("  {name}([{name}])\n")),
        }
        for d in deps {
            out.push_str(&format!(
                "  {} -->|{}| {name}\n",
                d.target,
                d.require.as_str()
            ));
        }
    }
    out
}

fn json(stack: &Stack) -> anyhow::Result<serde_json::Value> {
    let layers = orco_spec::graph(stack).layers()?;
    let edges: Vec<serde_json::Value> = stack
        .dependencies()
        .flat_map(|(name, _, deps)| {
            deps.iter().map(
                move |d| serde_json::json!({"from": name, "to": d.target, "require": d.require}),
            )
        })
        .collect();
    Ok(serde_json::json!({"stack": stack.stack.name, "layers": layers, "dependencies": edges}))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
