//! [`Logs`]: the daemon's log pipeline, one [`StackLog`] per stack under one directory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::LogConfig;
use crate::error::LogError;
use crate::files::{create_private_dir, stack_dir};
use crate::read::{Filter, read_dir};
use crate::record::Record;
use crate::stack::{Follow, StackLog};

/// All stacks' logs. Cloning gives another handle to the same set.
#[derive(Debug, Clone)]
pub struct Logs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: LogConfig,
    stacks: Mutex<HashMap<String, StackLog>>,
}

impl Logs {
    /// Logs under `config.dir` (created with mode 0700).
    pub fn new(config: LogConfig) -> Result<Logs, LogError> {
        create_private_dir(&config.dir)?;
        Ok(Logs {
            inner: Arc::new(Inner {
                config,
                stacks: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &LogConfig {
        &self.inner.config
    }

    fn stacks(&self) -> MutexGuard<'_, HashMap<String, StackLog>> {
        self.inner
            .stacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The log of `stack`, opened (and its writer started) on first use.
    pub fn stack(&self, stack: &str) -> Result<StackLog, LogError> {
        let mut stacks = self.stacks();
        if let Some(log) = stacks.get(stack) {
            return Ok(log.clone());
        }
        let log = StackLog::open(&self.inner.config, stack)?;
        stacks.insert(stack.to_string(), log.clone());
        Ok(log)
    }

    /// The records of `stack` on disk that pass `filter`, oldest first; works whether or not
    /// the stack's log is open, and gives none for a stack that never logged. Blocking.
    pub fn read(&self, stack: &str, filter: &Filter) -> Result<Vec<Record>, LogError> {
        read_dir(&stack_dir(&self.inner.config.dir, stack)?, filter)
    }

    /// History plus live tail of `stack` (see [`StackLog::follow`]). Blocking.
    pub fn follow(&self, stack: &str, filter: Filter) -> Result<Follow, LogError> {
        self.stack(stack)?.follow(filter)
    }

    /// Closes the log of `stack` (see [`StackLog::close`]), e.g. when the stack is removed.
    pub fn close(&self, stack: &str) {
        let log = self.stacks().remove(stack);
        if let Some(log) = log {
            log.close();
        }
    }

    /// Closes every stack's log: what was queued is written and fsynced.
    pub fn shutdown(&self) {
        let logs: Vec<StackLog> = self.stacks().drain().map(|(_, log)| log).collect();
        for log in logs {
            log.close();
        }
    }
}
