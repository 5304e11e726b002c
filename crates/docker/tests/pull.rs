#![allow(clippy::unwrap_used)]
//! Pulling from a registry on loopback (no public registry is reachable here): the test
//! image is pushed to a registry this test starts, removed locally, and pulled by a start
//! with progress; a name the registry lacks fails naming the image and the registry's answer.

mod common;

use std::process::Command;

use common::{IMAGE, Scope, until_exit, watch};
use orco_docker::PullStage;
use orco_runtime::{Container, ExitStatus, Launch, Runtime};

fn docker(args: &[&str]) {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn launch(image: &str) -> Launch {
    Launch::new(["/bin/sh", "-c", "echo pulled-and-running"]).container(Container {
        image: image.into(),
        stack: "s".into(),
        service: "app".into(),
        ..Container::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_is_pulled_from_the_registry_with_progress_and_a_missing_name_fails_with_the_registry_answer()
 {
    let scope = Scope::new("pull");
    let registry = orco_fixture::Registry::start().unwrap();
    let image = format!("127.0.0.1:{}/orco-test/{}:1", registry.port(), scope.name);
    docker(&["tag", IMAGE, &image]);
    docker(&["push", &image]);
    docker(&["rmi", &image]);

    let rt = scope.runtime().await;
    let mut progress = rt.pull_progress();
    let mut rx = watch(&rt).await;
    rt.start("s.app-0", &launch(&image)).await.unwrap();
    let (lines, _, status) = until_exit(&mut rx, "s.app-0").await;
    assert_eq!(status, ExitStatus::Code(0));
    assert_eq!(lines, vec!["pulled-and-running"]);
    let mut stages = Vec::new();
    while let Ok(p) = progress.try_recv() {
        assert_eq!(p.image, image);
        assert_eq!(p.instance, "s.app-0");
        stages.push(p.stage);
    }
    assert_eq!(stages.first(), Some(&PullStage::Started));
    assert_eq!(stages.last(), Some(&PullStage::Done));
    assert!(
        stages
            .iter()
            .any(|s| matches!(s, PullStage::Progress { .. })),
        "{stages:?}"
    );

    let missing = format!("127.0.0.1:{}/orco-test/not-there:1", registry.port());
    let err = rt
        .start("s.other-0", &launch(&missing))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("cannot pull image `{missing}`")),
        "{err}"
    );
    assert!(
        err.contains("not found") || err.contains("unknown"),
        "the registry's answer: {err}"
    );

    rt.forget("s.app-0").await.unwrap();
    docker(&["rmi", &image]);
}
