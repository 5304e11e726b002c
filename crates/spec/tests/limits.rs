//! The stack's size limits: replicas per service, services and tasks per stack, each refused
//! with its position.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use orco_spec::limits::{MAX_REPLICAS, MAX_SERVICES, MAX_TASKS};

fn errors(text: &str) -> Vec<(u32, u32, String, String)> {
    match orco_spec::load_str(Path::new("t.yaml"), text, &std::env::temp_dir()) {
        Ok(_) => Vec::new(),
        Err(report) => report
            .errors()
            .map(|d| (d.line, d.column, d.path.clone(), d.message.clone()))
            .collect(),
    }
}

#[test]
fn replicas_above_the_limit_are_refused_at_their_line() {
    let text = format!(
        "version: 0.1\nstack: {{name: s}}\nservices:\n  web:\n    command: x\n    replicas: {}\n",
        MAX_REPLICAS + 1
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let (line, column, path, message) = &errs[0];
    assert_eq!((*line, *column), (6, 15));
    assert_eq!(path, "services.web.replicas");
    assert!(
        message.contains("above the limit of 1000 replicas"),
        "{message}"
    );
    let huge = text.replace("1001", "99999999999999999999");
    assert!(
        errors(&huge)[0].3.contains("above the limit"),
        "{:?}",
        errors(&huge)
    );
    let at_limit = text.replace("1001", "1000");
    assert!(errors(&at_limit).is_empty());
}

fn services(n: usize) -> String {
    let mut text = String::from("version: 0.1\nstack: {name: big}\nservices:\n");
    for i in 0..n {
        text.push_str(&format!("  s{i}: {{command: [\"sleep\", \"1\"]}}\n"));
    }
    text
}

#[test]
fn a_stack_with_more_services_than_the_limit_is_refused_at_services() {
    let errs = errors(&services(MAX_SERVICES + 1));
    assert_eq!(errs.len(), 1, "{:?}", &errs[..errs.len().min(3)]);
    assert_eq!((errs[0].0, errs[0].2.as_str()), (4, "services"));
    assert!(
        errs[0].3.contains("above the limit of 20000"),
        "{:?}",
        errs[0]
    );
}

#[test]
fn a_stack_with_more_tasks_than_the_limit_is_refused_at_jobs() {
    let mut text = String::from("version: 0.1\nstack: {name: big}\njobs:\n");
    let per_job = 1_000;
    for j in 0..=(MAX_TASKS / per_job) {
        text.push_str(&format!("  j{j}:\n    tasks:\n"));
        for t in 0..per_job {
            text.push_str(&format!("      t{t}: {{command: x}}\n"));
        }
    }
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{:?}", &errs[..errs.len().min(3)]);
    assert_eq!(errs[0].2, "jobs");
    assert!(
        errs[0].3.contains("tasks, above the limit"),
        "{:?}",
        errs[0]
    );
}

#[test]
fn twenty_thousand_services_validate() {
    let text = services(MAX_SERVICES);
    let started = std::time::Instant::now();
    let loaded = orco_spec::load_str(Path::new("t.yaml"), &text, &std::env::temp_dir());
    // Timing is measured by bench/, not asserted here; printed for the curious.
    eprintln!("20,000 services validated in {:?}", started.elapsed());
    assert_eq!(
        loaded.map(|l| l.stack.services.len()).ok(),
        Some(MAX_SERVICES)
    );
}
