//! [`SharedState`]: a state folded in place by one writer and read as snapshots by many.
//!
//! A snapshot is cloned only when someone reads after a change, not on every change: a
//! workflow of thousands of tasks changes the state hundreds of times a second, and copying
//! it each time would cost more than the work it records.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::{Event, Revision, State};

/// A [`State`] behind a lock, with the last snapshot handed out kept until the next change.
#[derive(Debug, Default)]
pub struct SharedState {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: State,
    snapshot: Option<Arc<State>>,
}

impl SharedState {
    /// Starts from `state`.
    pub fn new(state: State) -> SharedState {
        SharedState {
            inner: Mutex::new(Inner {
                state,
                snapshot: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while folding leaves a state that is still a state: keep serving it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds `events` in order.
    pub fn apply<'a>(&self, events: impl IntoIterator<Item = &'a Event>) {
        let mut inner = self.lock();
        inner.snapshot = None;
        for event in events {
            inner.state.apply(event);
        }
    }

    /// Replaces the whole state (after a fresh fold).
    pub fn replace(&self, state: State) {
        let mut inner = self.lock();
        inner.state = state;
        inner.snapshot = None;
    }

    /// Runs `f` on the current state without copying it. Keep `f` short: the writer waits.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock().state)
    }

    /// The revision folded so far.
    pub fn revision(&self) -> Revision {
        self.lock().state.revision
    }

    /// The current state as an immutable snapshot (a copy made at most once per change).
    pub fn snapshot(&self) -> Arc<State> {
        let mut inner = self.lock();
        if let Some(snapshot) = &inner.snapshot {
            return snapshot.clone();
        }
        let snapshot = Arc::new(inner.state.clone());
        inner.snapshot = Some(snapshot.clone());
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, StackName};

    fn removed(name: &str) -> Event {
        Event::new(
            jiff::Timestamp::UNIX_EPOCH,
            EventKind::StackStopRequested {
                stack: StackName::new(name.to_string()).expect("valid name"),
            },
        )
    }

    #[test]
    fn a_snapshot_is_reused_until_the_next_change_and_then_shows_it() {
        let shared = SharedState::new(State::new());
        let first = shared.snapshot();
        assert!(
            Arc::ptr_eq(&first, &shared.snapshot()),
            "no change, no copy"
        );
        shared.apply([&removed("a"), &removed("b")]);
        let second = shared.snapshot();
        assert_eq!((first.revision, second.revision), (0, 2));
        assert_eq!(shared.revision(), 2);
        assert_eq!(shared.read(|s| s.revision), 2);
        shared.replace(State::new());
        assert_eq!(shared.snapshot().revision, 0);
    }
}
