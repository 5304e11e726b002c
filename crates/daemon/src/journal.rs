//! `StoreJournal`: the control loop's journal over the event store, so that everything the
//! engine decides or observes is durable before it is folded, and what the API appends
//! reaches the engine through the same watch.

use std::sync::Arc;
use std::time::Duration;

use orco_control::{Journal, JournalError};
use orco_state::{Event, Revision, State};
use orco_store::{RedbStore, Store, StoreError, Watch};

/// How long to wait before watching again after the store failed to deliver.
const RETRY: Duration = Duration::from_millis(100);

/// The journal of the daemon's engine.
pub struct StoreJournal {
    store: Arc<RedbStore>,
    watch: Watch,
    recovered: Option<State>,
}

impl std::fmt::Debug for StoreJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreJournal")
            .field("last", &self.watch.last_revision())
            .finish()
    }
}

impl StoreJournal {
    /// A journal that starts from `recovered` (the store's state when the engine starts) and
    /// delivers every event after it.
    pub fn new(store: Arc<RedbStore>, recovered: State) -> Result<StoreJournal, StoreError> {
        let watch = store.watch(recovered.revision)?;
        Ok(StoreJournal {
            store,
            watch,
            recovered: Some(recovered),
        })
    }

    /// Watches again from the last revision delivered (after a slow-watcher notice or a
    /// failed read).
    fn rewatch(&mut self) -> Result<(), StoreError> {
        self.watch = self.store.watch(self.watch.last_revision())?;
        Ok(())
    }
}

impl Journal for StoreJournal {
    fn submit(
        &mut self,
        events: Vec<Event>,
    ) -> Result<impl Future<Output = Result<Revision, JournalError>> + Send + 'static, JournalError>
    {
        let pending = self.store.submit(events).map_err(JournalError::store)?;
        Ok(async move { pending.ack().await.map_err(JournalError::store) })
    }

    async fn next(&mut self) -> Option<(Revision, Event)> {
        loop {
            match self.watch.next().await {
                Ok(record) => return Some((record.revision, record.event)),
                Err(StoreError::TooSlow { .. }) => {}
                Err(e) => {
                    tracing::warn!("the engine's watch of the store failed: {e}; watching again");
                    tokio::time::sleep(RETRY).await;
                }
            }
            if let Err(e) = self.rewatch() {
                tracing::warn!("cannot watch the store: {e}");
                tokio::time::sleep(RETRY).await;
            }
        }
    }

    fn try_next(&mut self) -> Option<(Revision, Event)> {
        match self.watch.try_next() {
            Ok(Some(record)) => Some((record.revision, record.event)),
            // A failure is met again (and handled) by the next `next`.
            Ok(None) | Err(_) => None,
        }
    }

    fn recovered(&mut self) -> State {
        self.recovered.take().unwrap_or_default()
    }
}
