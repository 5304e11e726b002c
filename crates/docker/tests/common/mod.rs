//! Shared helpers of the docker integration tests: the local test image, a unique scope per
//! test that removes exactly what the test created, and small waits.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orco_docker::{DockerOptions, DockerRuntime};
use orco_runtime::{Container, ExitStatus, Launch, Runtime, RuntimeEvent};
use tokio::sync::mpsc;

/// The test image: a busybox rootfs imported from Debian's busybox-static.
pub const IMAGE: &str = orco_fixture::BUSYBOX_IMAGE;

/// Builds the test image once if the engine does not have it.
pub fn ensure_image() {
    orco_fixture::busybox_image().unwrap();
}

/// A unique scope for one test; dropping it removes the containers, networks and volumes
/// labelled with it, and nothing else.
pub struct Scope {
    pub name: String,
}

impl Scope {
    pub fn new(test: &str) -> Scope {
        static N: AtomicU32 = AtomicU32::new(0);
        ensure_image();
        let n = N.fetch_add(1, Ordering::Relaxed);
        Scope {
            name: format!("t{}-{n}-{test}", std::process::id()),
        }
    }

    pub async fn runtime(&self) -> DockerRuntime {
        DockerRuntime::connect(DockerOptions {
            scope: self.name.clone(),
            pull: true,
        })
        .await
        .expect("the docker engine answers")
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let filter = format!("label=orco.scope={}", self.name);
        let script = format!(
            "docker ps -aq --filter {filter} | xargs -r docker rm -f >/dev/null; \
             docker network ls -q --filter {filter} | xargs -r docker network rm >/dev/null; \
             docker volume ls -q --filter {filter} | xargs -r docker volume rm >/dev/null"
        );
        let _ = Command::new("sh").args(["-c", &script]).status();
    }
}

/// A container launch of the test image in `stack` as `service`.
pub fn launch(stack: &str, service: &str, script: &str) -> Launch {
    Launch::new(["/bin/sh", "-c", script]).container(Container {
        image: IMAGE.into(),
        stack: stack.into(),
        service: service.into(),
        ..Container::default()
    })
}

/// Reads events until `instance` exits; answers its output lines (text) and its exit.
pub async fn until_exit(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    instance: &str,
) -> (Vec<String>, i32, ExitStatus) {
    let mut lines = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .expect("an event within two minutes")
            .expect("the watch goes on");
        match event {
            RuntimeEvent::Output(line) if line.instance == instance => {
                lines.push(line.text().into_owned());
            }
            RuntimeEvent::Exited {
                instance: i,
                pid,
                status,
            } if i == instance => return (lines, pid, status),
            _ => {}
        }
    }
}

/// Reads events until `instance` prints a line containing `text`.
pub async fn until_line(rx: &mut mpsc::Receiver<RuntimeEvent>, instance: &str, text: &str) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .expect("an event within two minutes")
            .expect("the watch goes on");
        if let RuntimeEvent::Output(line) = event
            && line.instance == instance
            && line.text().contains(text)
        {
            return;
        }
    }
}

/// A watch from now on.
pub async fn watch(rt: &DockerRuntime) -> mpsc::Receiver<RuntimeEvent> {
    rt.watch(BTreeMap::new()).await.expect("watch")
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// GETs `path` from 127.0.0.1:`port` until it answers (or two minutes pass).
pub async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let req = format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_ok() {
                let mut body = String::new();
                if s.read_to_string(&mut body).await.is_ok() && body.starts_with("HTTP/") {
                    return body;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "port {port} never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
