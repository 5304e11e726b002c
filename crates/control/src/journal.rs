//! Where the control loop's events are kept: the seam between the loop and the event store.

use std::collections::VecDeque;
use std::future::Future;

use orco_state::{Event, Revision, State};

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The store under the journal could not record them (a full disk, a closed store).
    #[error("cannot record events: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl JournalError {
    /// The store's own error, kept as the source.
    pub fn store(error: impl std::error::Error + Send + Sync + 'static) -> JournalError {
        JournalError::Store(Box::new(error))
    }
}

/// An append-only log the control loop folds its state from. Every event the loop sees comes
/// back through [`Journal::next`], in revision order, including the ones it appended itself:
/// the state is always the fold of the journal.
pub trait Journal: Send + 'static {
    /// Appends events without waiting for them to be recorded: the future it returns (which
    /// needs the journal no more) answers with the revision of the last one once they are.
    /// Appends keep their order whether their answers are awaited or not.
    fn submit(
        &mut self,
        events: Vec<Event>,
    ) -> Result<impl Future<Output = Result<Revision, JournalError>> + Send + 'static, JournalError>;

    /// Appends events; answers with the revision of the last one once they are recorded.
    fn append(
        &mut self,
        events: Vec<Event>,
    ) -> impl Future<Output = Result<Revision, JournalError>> + Send {
        let submitted = self.submit(events);
        async move { submitted?.await }
    }

    /// The next recorded event after the ones already returned; waits for one.
    fn next(&mut self) -> impl Future<Output = Option<(Revision, Event)>> + Send;

    /// The next recorded event if one is there already; never waits.
    fn try_next(&mut self) -> Option<(Revision, Event)>;

    /// The state folded from what was recorded before the loop started (a store's snapshot
    /// plus the events after it); [`Journal::next`] returns the events after it. An empty
    /// journal's is the empty state.
    fn recovered(&mut self) -> State {
        State::new()
    }
}

/// A journal in memory, for tests of the control loop (`orco up` and the daemon both run
/// over the daemon's store journal).
#[derive(Debug, Default)]
pub struct MemoryJournal {
    revision: Revision,
    unread: VecDeque<(Revision, Event)>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> MemoryJournal {
        MemoryJournal::default()
    }
}

impl Journal for MemoryJournal {
    fn submit(
        &mut self,
        events: Vec<Event>,
    ) -> Result<impl Future<Output = Result<Revision, JournalError>> + Send + 'static, JournalError>
    {
        for event in events {
            self.revision += 1;
            self.unread.push_back((self.revision, event));
        }
        Ok(std::future::ready(Ok(self.revision)))
    }

    fn try_next(&mut self) -> Option<(Revision, Event)> {
        self.unread.pop_front()
    }

    async fn next(&mut self) -> Option<(Revision, Event)> {
        match self.unread.pop_front() {
            Some(entry) => Some(entry),
            None => std::future::pending().await,
        }
    }
}
