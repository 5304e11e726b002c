//! Probes against real sockets and processes (orco-fixture).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use orco_probe::{HealthReport, HttpCheck, Prober, Status, check};
use orco_spec::{
    CmdProbe, Command as SpecCommand, Expr, Health, HttpProbe, LogProbe, LogSource, ProbeKind,
    TcpProbe,
};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(30);

/// A fixture process, killed and reaped when dropped.
struct Fixture(Child);

impl Fixture {
    fn start(flags: &[&str]) -> Fixture {
        let path = orco_fixture::path().expect("orco-fixture binary");
        let child = Command::new(path)
            .args(flags)
            .stdout(Stdio::null())
            .spawn()
            .expect("fixture starts");
        Fixture(child)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn health() -> Health {
    Health {
        http: None,
        tcp: None,
        cmd: None,
        log: None,
        expression: None,
        grace_period: Duration::ZERO.into(),
        interval: Duration::from_secs(2).into(),
        timeout: Duration::from_secs(1).into(),
        success_threshold: 1,
        failure_threshold: 1,
        on_failure: Default::default(),
    }
}

async fn report_where(
    rx: &mut mpsc::Receiver<HealthReport>,
    what: impl Fn(&HealthReport) -> bool,
) -> HealthReport {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) if what(&r) => return r,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the prober stopped"),
            Err(_) => panic!("no such report within {PATIENCE:?}"),
        }
    }
}

fn no_lines() -> mpsc::Receiver<(LogSource, Vec<u8>)> {
    mpsc::channel(1).1
}

#[tokio::test]
async fn an_http_probe_fails_on_503_and_404_and_passes_on_200() {
    let port = free_port();
    let _server = Fixture::start(&["--http", &format!("{port}:/health@400")]);
    let url = format!("http://127.0.0.1:{port}/health");
    let mut h = health();
    h.http = Some(HttpProbe {
        url: url.clone(),
        expect_status: vec![200],
        headers: BTreeMap::new(),
    });
    let mut rx = Prober::new(&h).expect("valid").start(no_lines());
    let ready = report_where(&mut rx, |r| r.ready).await;
    assert!(ready.probes[&ProbeKind::Http].detail.contains("status 200"));

    let none = BTreeMap::new();
    let missing =
        HttpCheck::new(&format!("http://127.0.0.1:{port}/nope"), &[200], &none).expect("valid");
    let outcome = missing.run(Duration::from_secs(5)).await;
    assert!(!outcome.passed);
    assert!(
        outcome.detail.contains("status 404, expected [200]"),
        "{}",
        outcome.detail
    );
    let accept_404 =
        HttpCheck::new(&format!("http://127.0.0.1:{port}/nope"), &[404], &none).expect("valid");
    assert!(accept_404.run(Duration::from_secs(5)).await.passed);
}

#[tokio::test]
async fn an_http_probe_that_is_refused_says_so() {
    let port = free_port();
    let c = HttpCheck::new(
        &format!("http://127.0.0.1:{port}/"),
        &[200],
        &BTreeMap::new(),
    )
    .expect("valid");
    let outcome = c.run(Duration::from_secs(5)).await;
    assert!(!outcome.passed);
    assert!(
        outcome
            .detail
            .contains(&format!("connect 127.0.0.1:{port} refused")),
        "{}",
        outcome.detail
    );
}

#[tokio::test]
async fn a_tcp_probe_passes_once_the_port_listens() {
    let port = free_port();
    let refused = check::tcp("127.0.0.1", port, Duration::from_secs(5)).await;
    assert_eq!(
        refused.detail,
        format!("tcp connect 127.0.0.1:{port} refused")
    );
    let _server = Fixture::start(&["--listen", &format!("{port}@300")]);
    let mut h = health();
    h.tcp = Some(TcpProbe {
        host: "127.0.0.1".into(),
        port,
    });
    let mut rx = Prober::new(&h).expect("valid").start(no_lines());
    report_where(&mut rx, |r| r.ready).await;
}

#[tokio::test]
async fn a_held_tcp_probe_fails_when_the_peer_closes_at_once_and_passes_when_it_stays_open() {
    let closing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closing_port = closing.local_addr().unwrap().port();
    tokio::spawn(async move {
        // Accepts and closes at once, as the engine's port forwarder does while nothing in
        // the container listens.
        while let Ok((stream, _)) = closing.accept().await {
            drop(stream);
        }
    });
    let keeping = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let keeping_port = keeping.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = keeping.accept().await {
            open.push(stream);
        }
    });
    let timeout = Duration::from_secs(5);
    let plain = check::tcp("127.0.0.1", closing_port, timeout).await;
    assert!(plain.passed, "{}", plain.detail);
    let held = check::tcp_held("127.0.0.1", closing_port, timeout).await;
    assert!(!held.passed, "{}", held.detail);
    assert!(held.detail.contains("closed at once"), "{}", held.detail);
    let held = check::tcp_held("127.0.0.1", keeping_port, timeout).await;
    assert!(held.passed, "{}", held.detail);
}

#[tokio::test]
async fn a_cmd_probe_passes_on_exit_0_fails_otherwise_and_a_hung_one_is_killed_with_its_group() {
    let sh = |script: &str| vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()];
    assert!(
        check::cmd(&sh("exit 0"), None, Duration::from_secs(5))
            .await
            .passed
    );
    let failed = check::cmd(&sh("exit 3"), None, Duration::from_secs(5)).await;
    assert!(
        !failed.passed && failed.detail.contains("exit status: 3"),
        "{}",
        failed.detail
    );

    // The probe's grandchild is orphaned when its group is killed: as a subreaper this
    // test inherits it and reaps it, instead of leaving it to an init that may not.
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pids");
    let fixture = orco_fixture::path().expect("fixture").display().to_string();
    let argv = vec![
        fixture,
        "--grandchildren".into(),
        "1".into(),
        "--pid-file".into(),
        pid_file.display().to_string(),
    ];
    let hung = check::cmd(&argv, None, Duration::from_millis(300)).await;
    assert!(
        !hung.passed && hung.detail.contains("no exit within"),
        "{}",
        hung.detail
    );
    let pids = std::fs::read_to_string(&pid_file).expect("pids written before the timeout");
    let grandchild: i32 = pids
        .lines()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("grandchild pid");
    let ended = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(grandchild), None)
        .expect("the grandchild was orphaned to this test");
    assert!(
        matches!(
            ended,
            nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)
        ),
        "the probe's whole group was killed: {ended:?}"
    );
}

#[tokio::test]
async fn a_log_probe_passes_on_a_matching_line_of_a_chosen_stream() {
    let mut h = health();
    h.log = Some(LogProbe {
        pattern: "listening on \\d+".into(),
        sources: vec![LogSource::Stderr],
    });
    let (tx, lines) = mpsc::channel(16);
    let mut rx = Prober::new(&h).expect("valid").start(lines);
    let first = report_where(&mut rx, |_| true).await;
    assert!(!first.ready);
    tx.send((LogSource::Stdout, b"listening on 80".to_vec()))
        .await
        .expect("send");
    tx.send((LogSource::Stderr, b"\xff listening on 8080".to_vec()))
        .await
        .expect("send");
    let ready = report_where(&mut rx, |r| r.ready).await;
    assert_eq!(ready.probes[&ProbeKind::Log].status, Status::Passing);
}

#[tokio::test]
async fn an_expression_combines_probes_and_says_which_one_fails() {
    let http_port = free_port();
    let _server = Fixture::start(&["--http", &format!("{http_port}:/")]);
    let tcp_port = free_port();
    let mut h = health();
    h.http = Some(HttpProbe {
        url: format!("http://127.0.0.1:{http_port}/"),
        expect_status: vec![200],
        headers: BTreeMap::new(),
    });
    h.tcp = Some(TcpProbe {
        host: "127.0.0.1".into(),
        port: tcp_port,
    });
    h.expression = Some(Expr::parse("http && tcp").expect("valid"));
    let mut rx = Prober::new(&h).expect("valid").start(no_lines());
    let report = report_where(&mut rx, |r| {
        r.probes[&ProbeKind::Http].status == Status::Passing
            && r.probes[&ProbeKind::Tcp].status == Status::Failing
    })
    .await;
    assert!(!report.ready, "http && tcp needs both");
    let why = report.why_not_ready().expect("a reason");
    assert!(
        why.contains(&format!("tcp connect 127.0.0.1:{tcp_port} refused")),
        "{why}"
    );

    h.expression = Some(Expr::parse("http || tcp").expect("valid"));
    let mut rx = Prober::new(&h).expect("valid").start(no_lines());
    report_where(&mut rx, |r| r.ready).await;
}

#[tokio::test]
async fn failures_in_the_grace_period_leave_the_probe_unknown_not_failing() {
    let port = free_port();
    let mut h = health();
    h.tcp = Some(TcpProbe {
        host: "127.0.0.1".into(),
        port,
    });
    h.grace_period = Duration::from_secs(3600).into();
    let mut rx = Prober::new(&h).expect("valid").start(no_lines());
    let report = report_where(&mut rx, |r| {
        r.probes[&ProbeKind::Tcp].detail.contains("refused")
    })
    .await;
    assert_eq!(report.probes[&ProbeKind::Tcp].status, Status::Unknown);
    assert!(!report.ready);
}

#[test]
fn bad_probe_settings_are_refused_before_anything_runs() {
    let mut h = health();
    h.http = Some(HttpProbe {
        url: "https://x/".into(),
        expect_status: vec![200],
        headers: BTreeMap::new(),
    });
    assert!(Prober::new(&h).is_err());
    let mut h = health();
    h.log = Some(LogProbe {
        pattern: "(".into(),
        sources: vec![LogSource::Stdout],
    });
    assert!(Prober::new(&h).is_err());
    let mut h = health();
    h.cmd = Some(CmdProbe {
        command: SpecCommand::Exec(vec![]),
    });
    assert!(Prober::new(&h).is_err());
}

#[tokio::test]
async fn a_cmd_probe_runs_in_its_context_directory_with_its_context_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("check.sh"), "test \"$MARK\" = here\n").expect("script");
    let argv = vec!["/bin/sh".to_string(), "check.sh".to_string()];
    let outside = check::cmd(&argv, None, Duration::from_secs(5)).await;
    assert!(
        !outside.passed,
        "not in the daemon's directory: {}",
        outside.detail
    );
    let context = check::Context {
        workdir: Some(dir.path().to_path_buf()),
        env: Some(std::collections::BTreeMap::from([
            ("MARK".to_string(), "here".to_string()),
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ])),
    };
    let inside = check::cmd(&argv, Some(&context), Duration::from_secs(5)).await;
    assert!(inside.passed, "{}", inside.detail);
    let mut without_mark = context.clone();
    without_mark.env = Some(std::collections::BTreeMap::new());
    let bare = check::cmd(&argv, Some(&without_mark), Duration::from_secs(5)).await;
    assert!(
        !bare.passed,
        "only the context's environment: {}",
        bare.detail
    );
}
