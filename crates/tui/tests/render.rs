//! Rendering tests: the model drawn on ratatui's test backend, checked as text.
#![allow(clippy::unwrap_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;
use orco_tui::graph::Topology;
use orco_tui::logs::Level;
use orco_tui::model::{Command, Mode, Snapshot};
use orco_tui::{LogLine, Model, Msg};
use orco_wire::model::{Blocked, DependencyView, EventView, InstanceView, WorkloadView};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const STACK: &str = r#"
version: 0.1
stack: {name: demo}
services:
  db:
    command: "sleep 1000"
    health: {tcp: {port: 5432}}
  api:
    command: "./api"
    dependsOn: [{target: db, require: ready, timeout: 45s}]
  web:
    command: "./web"
    replicas: 2
jobs:
  etl:
    tasks:
      extract: {command: "true"}
      load: {command: "true", dependsOn: [{target: extract}]}
"#;

fn now() -> Timestamp {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

fn at(seconds_ago: i64) -> Timestamp {
    now()
        .checked_sub(jiff::SignedDuration::from_secs(seconds_ago))
        .unwrap()
}

/// A state, phase or kind from the word the API sends.
fn word<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_value(serde_json::Value::String(text.into())).unwrap()
}

fn workload(name: &str, kind: &str, state: &str, ready: u32, replicas: u32) -> WorkloadView {
    WorkloadView {
        id: format!("demo/{name}"),
        stack: "demo".into(),
        name: name.into(),
        kind: word(kind),
        state: word(state),
        ready,
        replicas,
        instances: replicas,
        restarts: 0,
        since: at(95),
        message: None,
        runtime: (kind == "service").then(|| word("process")),
        command: None,
        stopped: false,
        blocked: None,
        dependencies: Vec::new(),
    }
}

fn instance(name: &str, replica: u32, phase: &str, ready: bool) -> InstanceView {
    InstanceView {
        id: format!("demo/{name}-{replica}"),
        workload: format!("demo/{name}"),
        name: format!("{name}-{replica}"),
        replica,
        phase: word(phase),
        ready,
        since: at(90),
        created_at: at(95),
        node: None,
        pid: Some(4000 + replica),
        container: None,
        ports: Vec::new(),
        last_exit: None,
        reason: None,
        restarts: 0,
        failures: 0,
        backoff_until: None,
        restart_requests: 0,
    }
}

fn topology() -> Topology {
    let loaded = orco_spec::load_str("stack.yaml".as_ref(), STACK, "/".as_ref()).unwrap();
    // As the API hands it over: the applied stack as JSON.
    let topology = Topology::from_json(&serde_json::to_value(&loaded.stack).unwrap());
    assert_eq!(topology, Topology::of(&loaded.stack));
    topology
}

/// db starting (not ready), api waiting for it, web running, etl not run.
fn model() -> Model {
    let mut db = workload("db", "service", "starting", 0, 1);
    db.restarts = 2;
    // What the daemon says of api: its instance waits for db to be ready.
    let mut api = workload("api", "service", "pending", 0, 1);
    api.message = Some("api blocked: dependency db not ready (timeout 45s)".into());
    api.blocked = Some(Blocked {
        waiting: "api-0".into(),
        dependency: "db".into(),
        require: orco_spec::Require::Ready,
        detail: None,
        since: at(95),
        timeout: Some("45s".into()),
        deadline: Some(at(50)),
        timed_out: false,
    });
    api.dependencies = vec![DependencyView {
        target: "db".into(),
        require: orco_spec::Require::Ready,
        holds: false,
        detail: None,
    }];
    let web = workload("web", "service", "running", 2, 2);
    let etl = workload("etl", "job", "not-run", 0, 0);
    let mut model = Model::new(now());
    model.update(Msg::Snapshot(Box::new(Snapshot {
        stack: "demo".into(),
        revision: 42,
        as_of: now(),
        workloads: vec![db, api, web, etl],
        instances: vec![
            instance("db", 0, "starting", false),
            instance("web", 0, "running", true),
            instance("web", 1, "running", true),
        ],
        topology: topology(),
    })));
    model
}

fn screen(model: &Model, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| orco_tui::view::draw(frame, model))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn press(model: &mut Model, keys: &str) -> Vec<Command> {
    keys.chars()
        .flat_map(|c| model.update(key(KeyCode::Char(c))))
        .collect()
}

fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{screen}"))
}

#[test]
fn the_status_table_has_the_seed_columns_and_one_row_per_workload() {
    let screen = screen(&model(), 140, 30);
    let header = line_with(&screen, "SERVICE");
    let mut last = 0;
    for column in orco_tui::view::COLUMNS {
        let at = header
            .find(column)
            .unwrap_or_else(|| panic!("{column} missing: {header}"));
        assert!(at >= last, "{column} out of order: {header}");
        last = at;
    }
    let web = line_with(&screen, "web ");
    assert!(
        web.contains("running") && web.contains("2/2") && web.contains("95s"),
        "{web}"
    );
    let db = line_with(&screen, "db ");
    assert!(
        db.contains("starting") && db.contains("0/1") && db.contains(" 2 "),
        "{db}"
    );
    assert!(line_with(&screen, "etl (job)").contains("not-run"));
    assert!(
        screen.contains("stack demo · revision 42 · 4 workloads · live"),
        "{screen}"
    );
}

#[test]
fn a_blocked_service_says_blocked_and_names_the_dependency_it_waits_for() {
    let mut model = model();
    model.update(key(KeyCode::Down)); // select api
    let screen = screen(&model, 160, 30);
    let row = line_with(&screen, "api ");
    assert!(row.contains("blocked"), "{row}");
    assert!(
        row.contains("api blocked: dependency db not ready (timeout 45s)"),
        "{row}"
    );
    assert!(
        screen.contains("why blocked: api blocked: dependency db not ready"),
        "{screen}"
    );
    assert!(screen.contains("needs db ready"), "{screen}");
}

#[test]
fn a_service_is_no_longer_blocked_once_its_dependency_is_ready() {
    let mut model = model();
    let mut db = workload("db", "service", "running", 1, 1);
    db.restarts = 2;
    model.update(Msg::Workload(Box::new(orco_wire::model::WorkloadDetail {
        revision: 43,
        as_of: now(),
        workload: db,
        spec: serde_json::Value::Null,
        instances: vec![instance("db", 0, "running", true)],
    })));
    // The list read that follows: the daemon no longer holds api back.
    let mut api = workload("api", "service", "starting", 0, 1);
    api.dependencies = vec![DependencyView {
        target: "db".into(),
        require: orco_spec::Require::Ready,
        holds: true,
        detail: None,
    }];
    model.update(Msg::Workloads(vec![api]));
    let screen = screen(&model, 160, 30);
    assert!(!line_with(&screen, "api ").contains("blocked"), "{screen}");
}

fn log(workload: &str, level: Option<Level>, msg: &str) -> Msg {
    Msg::Log(LogLine {
        workload: workload.into(),
        instance: Some(format!("{workload}-0")),
        level,
        source: "stdout".into(),
        msg: msg.into(),
    })
}

#[test]
fn the_log_pane_shows_only_the_lines_that_pass_the_level_and_regex_filters() {
    let mut model = model();
    model.update(log("web", Some(Level::Info), "GET /index 200"));
    model.update(log("web", Some(Level::Warn), "GET /slow took 3s"));
    model.update(log("db", Some(Level::Error), "disk almost full"));
    model.update(log("db", Some(Level::Debug), "checkpoint"));
    let all = screen(&model, 120, 30);
    for text in [
        "GET /index 200",
        "GET /slow took 3s",
        "disk almost full",
        "checkpoint",
    ] {
        assert!(all.contains(text), "{text} missing:\n{all}");
    }
    assert!(line_with(&all, "disk almost full").contains("ERROR"));

    // l three times: level ≥ warn.
    press(&mut model, "lll");
    let warn = screen(&model, 120, 30);
    assert!(warn.contains("level ≥ warn"), "{warn}");
    assert!(warn.contains("GET /slow took 3s") && warn.contains("disk almost full"));
    assert!(
        !warn.contains("GET /index 200") && !warn.contains("checkpoint"),
        "{warn}"
    );

    // f, a regex, Enter.
    press(&mut model, "f");
    press(&mut model, "GET /s.*");
    assert!(screen(&model, 120, 30).contains("regex: GET /s.*"));
    model.update(key(KeyCode::Enter));
    let both = screen(&model, 120, 30);
    assert!(both.contains("/GET /s.*/"), "{both}");
    assert!(both.contains("GET /slow took 3s"));
    assert!(!both.contains("disk almost full"), "{both}");
}

#[test]
fn the_log_pane_follows_the_selected_workload_after_a() {
    let mut model = model();
    model.update(log("web", Some(Level::Info), "from web"));
    model.update(log("db", Some(Level::Info), "from db"));
    press(&mut model, "a"); // db is selected
    let screen = screen(&model, 120, 30);
    assert!(screen.contains("logs: db"), "{screen}");
    assert!(
        screen.contains("from db") && !screen.contains("from web"),
        "{screen}"
    );
}

#[test]
fn an_invalid_regex_is_refused_in_the_filter_dialog_and_changes_nothing() {
    let mut model = model();
    press(&mut model, "f(");
    model.update(key(KeyCode::Enter));
    let screen = screen(&model, 120, 30);
    assert!(screen.contains("not a valid regex"), "{screen}");
    assert!(model.log_regex.is_none());
}

#[test]
fn the_scale_dialog_shows_the_count_being_typed_and_enter_asks_for_it() {
    let mut model = model();
    press(&mut model, "jj"); // web
    press(&mut model, "c");
    let opened = screen(&model, 120, 30);
    assert!(opened.contains("scale web (now 2 replicas)"), "{opened}");
    assert!(opened.contains("replicas: 2"), "{opened}");
    model.update(key(KeyCode::Backspace));
    press(&mut model, "5+");
    let typed = screen(&model, 120, 30);
    assert!(typed.contains("replicas: 6"), "{typed}");
    let commands = model.update(key(KeyCode::Enter));
    assert_eq!(commands, [Command::Scale("demo/web".into(), 6)]);
    assert_eq!(model.mode, Mode::Normal);
    assert!(screen(&model, 120, 30).contains("web: scale to 6 requested"));
}

#[test]
fn a_digit_typed_in_the_scale_dialog_replaces_the_current_count() {
    let mut model = model();
    press(&mut model, "jj"); // web, 2 replicas
    press(&mut model, "c3");
    assert!(screen(&model, 120, 30).contains("replicas: 3"));
    press(&mut model, "1");
    let commands = model.update(key(KeyCode::Enter));
    assert_eq!(commands, [Command::Scale("demo/web".into(), 31)]);
}

#[test]
fn the_scale_dialog_refuses_a_count_out_of_range() {
    let mut model = model();
    press(&mut model, "c");
    model.update(key(KeyCode::Backspace));
    press(&mut model, "5000");
    assert!(model.update(key(KeyCode::Enter)).is_empty());
    assert!(screen(&model, 120, 30).contains("from 0 to 1000"));
}

#[test]
fn copy_mode_releases_the_mouse_and_says_so_on_screen() {
    let mut model = model();
    assert!(!screen(&model, 120, 30).contains("COPY MODE"));
    assert_eq!(press(&mut model, "m"), [Command::MouseCapture(false)]);
    let copy = screen(&model, 120, 30);
    assert!(copy.contains("COPY MODE: mouse released"), "{copy}");
    assert!(line_with(&copy, "orco").contains("COPY MODE"), "{copy}");
    assert_eq!(press(&mut model, "m"), [Command::MouseCapture(true)]);
    assert!(!screen(&model, 120, 30).contains("COPY MODE"));
}

#[test]
fn copy_mode_holds_the_log_pane_still_while_lines_arrive() {
    let mut model = model();
    model.update(log("web", None, "first line"));
    press(&mut model, "m");
    for i in 0..100 {
        model.update(log("web", None, &format!("flood {i}")));
    }
    let screen = screen(&model, 120, 30);
    assert!(screen.contains("first line"), "{screen}");
    assert!(!screen.contains("flood 99"), "{screen}");
}

#[test]
fn restart_and_stop_ask_first_and_start_does_not() {
    let mut model = model();
    assert!(press(&mut model, "r").is_empty());
    assert!(screen(&model, 120, 30).contains("restart every instance of db?"));
    assert_eq!(press(&mut model, "y"), [Command::Restart("demo/db".into())]);
    assert!(press(&mut model, "x").is_empty());
    assert!(model.update(key(KeyCode::Esc)).is_empty());
    assert_eq!(model.mode, Mode::Normal);
    assert_eq!(press(&mut model, "s"), [Command::Start("demo/db".into())]);
}

#[test]
fn actions_on_a_job_are_refused_with_a_reason() {
    let mut model = model();
    press(&mut model, "G");
    assert!(press(&mut model, "r").is_empty());
    assert!(screen(&model, 120, 30).contains("etl is a job"));
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut model = model();
    assert_eq!(press(&mut model, "q"), [Command::Quit]);
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(model.update(ctrl_c), [Command::Quit]);
}

#[test]
fn search_selects_the_next_workload_whose_name_matches() {
    let mut model = model();
    press(&mut model, "/");
    press(&mut model, "we");
    model.update(key(KeyCode::Enter));
    assert_eq!(model.selected_workload().unwrap().name, "web");
    press(&mut model, "/");
    press(&mut model, "nothing");
    model.update(key(KeyCode::Enter));
    assert!(screen(&model, 120, 30).contains("no workload matches"));
}

#[test]
fn the_dependency_graph_shows_layers_and_whether_each_condition_holds() {
    let mut model = model();
    press(&mut model, "d");
    let screen = screen(&model, 120, 40);
    assert!(screen.contains("dependency graph"), "{screen}");
    assert!(screen.contains("layer 0"), "{screen}");
    assert!(screen.contains("api ← db ready …"), "{screen}");
}

fn event(revision: u64, kind: &str, object: &str, summary: &str) -> Msg {
    Msg::Event(Box::new(EventView {
        revision,
        at: now(),
        kind: word(kind),
        object: object.into(),
        summary: summary.into(),
        by: None,
        event: serde_json::Value::Null,
    }))
}

#[test]
fn events_appear_in_the_log_pane_and_job_runs_show_task_progress() {
    let mut model = model();
    model.update(event(
        50,
        "instance_failed",
        "demo/db-0",
        "demo/db-0 failed: exit 1",
    ));
    model.update(event(
        51,
        "task_succeeded",
        "demo/etl#1/extract",
        "demo/etl#1/extract succeeded",
    ));
    model.update(event(
        52,
        "task_started",
        "demo/etl#1/load",
        "demo/etl#1/load started",
    ));
    let screen = screen(&model, 140, 30);
    assert!(
        line_with(&screen, "db-0 failed: exit 1").contains("ERROR")
            && !screen.contains("demo/db-0"),
        "{screen}"
    );
    assert!(
        line_with(&screen, "etl (job)").contains("run 1: 1/2 tasks succeeded, 1 running"),
        "{screen}"
    );
    assert!(screen.contains("revision 52"));
}

#[test]
fn the_help_lists_the_keys_and_any_key_closes_it() {
    let mut model = model();
    press(&mut model, "?");
    let screen = screen(&model, 120, 30);
    assert!(screen.contains("copy mode: release the mouse"), "{screen}");
    press(&mut model, "z");
    assert_eq!(model.mode, Mode::Normal);
}

#[test]
fn no_key_sequence_or_terminal_size_makes_drawing_panic() {
    let keys: Vec<KeyCode> = "rxscl fa/ndm?qjkgG+-0123456789y"
        .chars()
        .map(KeyCode::Char)
        .chain([
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Backspace,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
        ])
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..40 {
        let mut model = if round % 4 == 0 {
            Model::new(now())
        } else {
            model()
        };
        for _ in 0..60 {
            let code = keys[(next() % keys.len() as u64) as usize];
            model.update(key(code));
            if next() % 3 == 0 {
                model.update(log("web", Some(Level::Warn), "x"));
            }
        }
        let width = (next() % 150) as u16 + 1;
        let height = (next() % 50) as u16 + 1;
        screen(&model, width, height);
    }
}

/// A workload of stack `stack`.
fn workload_of(stack: &str, name: &str, state: &str, ready: u32, replicas: u32) -> WorkloadView {
    WorkloadView {
        id: format!("{stack}/{name}"),
        stack: stack.into(),
        ..workload(name, "service", state, ready, replicas)
    }
}

/// Stack `shop` (web, cart) and stack `blog` (web, db): two stacks with a service of the
/// same name, as every applied stack is shown when `--stack` is not given.
fn two_stacks() -> Model {
    let mut model = Model::new(now());
    let snap = |stack: &str, workloads: Vec<WorkloadView>| Snapshot {
        stack: stack.into(),
        revision: 7,
        as_of: now(),
        workloads,
        instances: Vec::new(),
        topology: Topology::default(),
    };
    model.update(Msg::Snapshots(vec![
        snap(
            "shop",
            vec![
                workload_of("shop", "cart", "running", 1, 1),
                workload_of("shop", "web", "running", 3, 3),
            ],
        ),
        snap(
            "blog",
            vec![
                workload_of("blog", "db", "starting", 0, 1),
                workload_of("blog", "web", "running", 2, 2),
            ],
        ),
    ]));
    model
}

#[test]
fn with_several_stacks_every_stacks_services_show_under_a_row_naming_their_stack() {
    let mut model = two_stacks();
    let text = screen(&model, 140, 30);
    assert!(
        line_with(&text, "revision 7").contains("stacks blog, shop"),
        "{text}"
    );
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("SERVICE"))
        .skip(1)
        .take(6)
        .map(str::trim)
        .collect();
    let names: Vec<String> = rows
        .iter()
        .map(|r| {
            r.trim_start_matches('▶')
                .split("  ")
                .map(str::trim)
                .find(|w| !w.is_empty())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["stack blog", "db", "web", "stack shop", "cart", "web"],
        "{text}"
    );
    // The replica counts tell the two `web`s apart: blog's has 2, shop's 3.
    assert!(rows[2].contains("2/2"), "{text}");
    assert!(rows[5].contains("3/3"), "{text}");

    // Selection walks the workloads, never a stack's row, and the highlighted row is the
    // selected workload's.
    assert_eq!(model.selected_workload().unwrap().id, "blog/db");
    assert!(line_with(&text, "▶").contains("db"), "{text}");
    press(&mut model, "jj");
    assert_eq!(model.selected_workload().unwrap().id, "shop/cart");
    let text = screen(&model, 140, 30);
    assert!(line_with(&text, "▶").contains("cart"), "{text}");
    assert!(
        line_with(&text, "cart · service").contains("shop/cart"),
        "{text}"
    );

    // Actions address the selected row's own stack.
    press(&mut model, "j");
    assert_eq!(model.selected_workload().unwrap().id, "shop/web");
    press(&mut model, "r");
    let text = screen(&model, 140, 30);
    assert!(
        text.contains("restart every instance of shop/web?"),
        "{text}"
    );
    assert_eq!(
        press(&mut model, "y"),
        [Command::Restart("shop/web".into())]
    );
    model.update(key(KeyCode::Up));
    model.update(key(KeyCode::Up));
    assert_eq!(model.selected_workload().unwrap().id, "blog/web");
    model.update(key(KeyCode::Char('c')));
    assert_eq!(press(&mut model, "5"), []);
    assert_eq!(
        model.update(key(KeyCode::Enter)),
        [Command::Scale("blog/web".into(), 5)]
    );
    assert_eq!(press(&mut model, "x"), []);
    assert_eq!(press(&mut model, "y"), [Command::Stop("blog/web".into())]);
}

#[test]
fn a_stack_that_is_removed_leaves_the_others_shown() {
    let mut model = two_stacks();
    press(&mut model, "jjj");
    assert_eq!(model.selected_workload().unwrap().id, "shop/web");
    model.update(Msg::StackGone("blog".into()));
    assert_eq!(model.stacks, ["shop"]);
    // The selection stays on the same workload.
    assert_eq!(model.selected_workload().unwrap().id, "shop/web");
    let text = screen(&model, 140, 30);
    assert!(
        line_with(&text, "revision 7").contains("stack shop"),
        "{text}"
    );
    assert!(!text.contains("stack blog"), "{text}");
    // One stack left: no stack rows, names alone.
    assert!(!text.contains("stack shop\n"), "{text}");
    assert_eq!(press(&mut model, "s"), [Command::Start("shop/web".into())]);
}
