//! Image pulls as events: the docker runtime's pull progress becomes `InstancePulling` events
//! in the store, so that `orco up` and `orco status` show a pull while it runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orco_docker::{PullProgress, PullStage};
use orco_state::{Event, EventKind, InstanceId};
use orco_store::{RedbStore, Store};
use tokio::sync::broadcast;

/// At most one progress event per instance this often (the first and the last always go).
const EVERY: Duration = Duration::from_millis(500);

/// What one pull has done so far, layer by layer.
#[derive(Debug, Default)]
pub(crate) struct Pull {
    /// Each layer's last status and bytes (done, total) when the engine gave them.
    layers: BTreeMap<String, (String, Option<(u64, u64)>)>,
    /// The last report sent.
    reported: Option<Instant>,
}

impl Pull {
    /// Takes one report of the engine in.
    pub(crate) fn note(
        &mut self,
        layer: Option<&str>,
        status: &str,
        current: Option<u64>,
        total: Option<u64>,
    ) {
        let Some(layer) = layer else { return };
        // `Pulling from library/busybox` names the repository, not a layer.
        if status.starts_with("Pulling from") {
            return;
        }
        let entry = self
            .layers
            .entry(layer.to_string())
            .or_insert_with(|| (String::new(), None));
        entry.0 = status.to_string();
        // Bytes are the download's; extraction reports bytes of its own.
        if status.starts_with("Downloading")
            && let Some(bytes) = current.zip(total).filter(|(_, t)| *t > 0)
        {
            entry.1 = Some(bytes);
        }
    }

    /// Whether a layer's download is over.
    fn downloaded(status: &str) -> bool {
        matches!(
            status,
            "Download complete" | "Verifying Checksum" | "Extracting" | "Pull complete"
        )
    }

    /// How far the pull is, for people: `1/3 layers, 1.2 of 2.0 MB`.
    pub(crate) fn summary(&self) -> String {
        let done = self
            .layers
            .values()
            .filter(|(s, _)| s == "Pull complete" || s == "Already exists")
            .count();
        let mut text = format!("{done}/{} layers", self.layers.len());
        let (current, total) = self
            .layers
            .values()
            .filter_map(|(s, b)| {
                let (c, t) = (*b)?;
                Some(if Self::downloaded(s) { (t, t) } else { (c, t) })
            })
            .fold((0u64, 0u64), |(c, t), (bc, bt)| (c + bc, t + bt));
        if total > 0 {
            text.push_str(&format!(", {} of {}", megabytes(current), megabytes(total)));
        }
        text
    }
}

fn megabytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1_000_000.0;
    format!("{mb:.1} MB")
}

/// The instance a runtime name (`STACK.SERVICE-N`) stands for; `None` for other names.
fn instance_id(runtime_name: &str) -> Option<InstanceId> {
    let (stack, rest) = runtime_name.split_once('.')?;
    format!("{stack}/{rest}").parse().ok()
}

/// Turns every pull report into an `InstancePulling` event, the progress ones at most every
/// half second per instance; a failed pull is told by the failed start itself.
pub(crate) async fn report(mut progress: broadcast::Receiver<PullProgress>, store: Arc<RedbStore>) {
    let mut pulls: HashMap<String, Pull> = HashMap::new();
    loop {
        let p = match progress.recv().await {
            Ok(p) => p,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        tracing::info!("{p}");
        let Some(instance) = instance_id(&p.instance) else {
            continue;
        };
        let text = match &p.stage {
            PullStage::Started => {
                pulls.insert(p.instance.clone(), Pull::default());
                "started".to_string()
            }
            PullStage::Progress {
                layer,
                status,
                current,
                total,
            } => {
                let pull = pulls.entry(p.instance.clone()).or_default();
                pull.note(layer.as_deref(), status, *current, *total);
                if pull.reported.is_some_and(|at| at.elapsed() < EVERY) {
                    continue;
                }
                pull.reported = Some(Instant::now());
                pull.summary()
            }
            PullStage::Done => {
                pulls.remove(&p.instance);
                "done".to_string()
            }
            PullStage::Failed { .. } => {
                pulls.remove(&p.instance);
                continue;
            }
        };
        let event = Event::new(
            jiff::Timestamp::now(),
            EventKind::InstancePulling {
                instance,
                image: p.image.clone(),
                progress: text,
            },
        );
        match store.submit(vec![event]) {
            Ok(pending) => {
                if let Err(e) = pending.ack().await {
                    tracing::warn!("cannot record the pull of {}: {e}", p.image);
                }
            }
            Err(e) => tracing::warn!("cannot record the pull of {}: {e}", p.image),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_reads_as_layers_done_and_bytes_downloaded() {
        let mut pull = Pull::default();
        pull.note(Some("latest"), "Pulling from orco-test/busybox", None, None);
        pull.note(Some("a1"), "Pulling fs layer", None, None);
        pull.note(Some("b2"), "Pulling fs layer", None, None);
        pull.note(Some("a1"), "Downloading", Some(500_000), Some(2_000_000));
        pull.note(Some("b2"), "Downloading", Some(100_000), Some(1_000_000));
        assert_eq!(pull.summary(), "0/2 layers, 0.6 MB of 3.0 MB");
        pull.note(Some("a1"), "Download complete", None, None);
        pull.note(Some("a1"), "Extracting", Some(1), Some(9));
        assert_eq!(pull.summary(), "0/2 layers, 2.1 MB of 3.0 MB");
        pull.note(Some("a1"), "Pull complete", None, None);
        assert_eq!(pull.summary(), "1/2 layers, 2.1 MB of 3.0 MB");
    }

    #[test]
    fn runtime_names_of_instances_map_to_their_ids_and_others_to_none() {
        assert_eq!(
            instance_id("shop.db-0").map(|i| i.to_string()),
            Some("shop/db-0".to_string())
        );
        assert_eq!(instance_id("job.shop.build.1.t.0"), None);
        assert_eq!(instance_id("nodot"), None);
    }
}
