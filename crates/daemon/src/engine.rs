//! The seam where the engine (reconciler + agent, `crates/control`) starts inside the
//! daemon. The API never calls the engine: the engine watches the same store the API
//! appends desired-state events to, and appends what it observes.
//!
//! Until `crates/control` lands, [`start_engine`] starts nothing: the daemon records desired
//! state and answers every read, and `GET /api/v1/cluster` says `"engine": false`.

use std::sync::Arc;

use orco_api::LocalNode;
use orco_store::RedbStore;

/// The running engine, stopped by [`EngineHandle::stop`] on shutdown.
#[derive(Debug)]
pub struct EngineHandle {
    running: bool,
}

impl EngineHandle {
    /// No engine: the daemon was told to run without one.
    pub fn disabled() -> EngineHandle {
        EngineHandle { running: false }
    }

    /// Whether an engine runs in this daemon.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the engine (its supervisors leave instances running for the next daemon to
    /// adopt).
    pub async fn stop(self) {}
}

/// Starts the control loop over `store` for the local `node`: watch the store, fold the
/// state, reconcile, drive the agent, append the agent's events.
///
/// This is the one place the engine is started. It starts nothing yet: `crates/control`
/// fills it in.
pub fn start_engine(store: &Arc<RedbStore>, node: &LocalNode) -> EngineHandle {
    let _ = (store, node);
    tracing::warn!(
        "the engine is not part of this build yet: desired state is recorded, but no instance is started"
    );
    EngineHandle { running: false }
}
