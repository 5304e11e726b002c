//! When the control loop plans, as a pure state machine: the loop's IO (the journal, the
//! agent, the wake-up timer) feeds it what happened and asks it whether a new plan is due.
//!
//! - A recovered state is planned at once; an empty one waits for its first event (deciding
//!   on nothing would stop what the runtime runs before anything is applied).
//! - A plan's own events must be folded before the next plan, so that the reconciler never
//!   decides twice on the same facts.
//! - A burst of events that cannot change a plan (task starts and progress only) calls for
//!   none; a wake-up time the plan asked for does.

use orco_reconciler::may_change_plan;
use orco_state::{EventKind, Revision};

/// Whether a plan is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    /// Something happened since the last plan that may change it.
    dirty: bool,
    /// The revision the last plan's own events reach.
    awaiting: Revision,
}

impl Cycle {
    /// The cycle of a loop that starts from a state recovered at `recovered`.
    pub(crate) fn new(recovered: Revision) -> Cycle {
        Cycle {
            dirty: recovered > 0,
            awaiting: 0,
        }
    }

    /// Whether to plan now, the state being folded up to `folded`.
    pub(crate) fn due(&self, folded: Revision) -> bool {
        self.dirty && folded >= self.awaiting
    }

    /// A plan was made; its own events, if any, were appended up to `appended`.
    pub(crate) fn planned(&mut self, appended: Option<Revision>) {
        self.dirty = false;
        if let Some(revision) = appended {
            self.awaiting = revision;
        }
    }

    /// A burst of recorded events was folded.
    pub(crate) fn folded<'a>(&mut self, burst: impl IntoIterator<Item = &'a EventKind>) {
        self.dirty |= burst.into_iter().any(may_change_plan);
    }

    /// The time the last plan asked to be woken at has come.
    pub(crate) fn woke(&mut self) {
        self.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orco_state::{InstanceId, TaskId};

    fn instance() -> InstanceId {
        "s/web-0".parse().expect("an instance id")
    }

    fn task() -> TaskId {
        "s/job#1/t".parse().expect("a task id")
    }

    #[test]
    fn an_empty_journal_waits_for_its_first_event_and_a_recovered_state_is_planned_at_once() {
        let mut empty = Cycle::new(0);
        assert!(!empty.due(0));
        empty.folded([&EventKind::InstanceReady {
            instance: instance(),
        }]);
        assert!(empty.due(1));
        assert!(Cycle::new(42).due(42));
    }

    #[test]
    fn no_new_plan_comes_before_the_last_plans_own_events_are_folded() {
        let mut cycle = Cycle::new(10);
        assert!(cycle.due(10));
        cycle.planned(Some(13));
        let ready = EventKind::InstanceReady {
            instance: instance(),
        };
        // An event of the node arrives before the plan's own three are folded.
        cycle.folded([&ready]);
        assert!(!cycle.due(11), "the plan's events are not folded yet");
        assert!(!cycle.due(12));
        assert!(cycle.due(13));
        cycle.planned(None);
        assert!(!cycle.due(14), "nothing happened since");
    }

    #[test]
    fn task_starts_and_progress_alone_call_for_no_plan_and_a_wake_up_does() {
        let mut cycle = Cycle::new(5);
        cycle.planned(None);
        cycle.folded([
            &EventKind::TaskStarted {
                task: task(),
                attempt: 1,
                pid: Some(7),
            },
            &EventKind::TaskProgress {
                task: task(),
                percent: Some(50),
                message: None,
            },
        ]);
        assert!(!cycle.due(7));
        cycle.woke();
        assert!(cycle.due(7));
    }
}
