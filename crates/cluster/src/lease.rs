//! Node leases on the server's side, purely: when each node last renewed, and which nodes
//! lapsed (unreachable after the lease, lost after the lease and the grace). Times are
//! explicit, so every rule is tested without a clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How far a node's lease has lapsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lapse {
    /// Not renewed within the lease: it takes no new instance.
    Unreachable,
    /// Not renewed within the lease and the grace: its instances go elsewhere.
    Lost,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    renewed: Instant,
    /// The lapse last reported for the current lease, so that each is reported once.
    reported: Option<Lapse>,
}

/// The leases of every node the server knows.
#[derive(Debug, Clone)]
pub struct Leases {
    lease: Duration,
    grace: Duration,
    nodes: BTreeMap<String, Held>,
}

impl Leases {
    /// Leases of `lease`, declared lost after `grace` more.
    pub fn new(lease: Duration, grace: Duration) -> Leases {
        Leases {
            lease,
            grace,
            nodes: BTreeMap::new(),
        }
    }

    /// The lease granted on each renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Starts counting for a node the server knows but has not heard from (at its own
    /// start): its lease runs from `now`, as if it had just renewed. A node already counted
    /// is left as it is.
    pub fn track(&mut self, node: &str, now: Instant) {
        self.nodes.entry(node.to_string()).or_insert(Held {
            renewed: now,
            reported: None,
        });
    }

    /// The node renewed at `now`: a new lease, any lapse forgotten.
    pub fn renew(&mut self, node: &str, now: Instant) {
        self.nodes.insert(
            node.to_string(),
            Held {
                renewed: now,
                reported: None,
            },
        );
    }

    /// Nodes whose lease lapsed further since the last call, each lapse reported once: a
    /// node that jumps past the grace at once is reported lost only.
    pub fn due(&mut self, now: Instant) -> Vec<(String, Lapse)> {
        let mut due = Vec::new();
        for (name, held) in &mut self.nodes {
            let since = now.saturating_duration_since(held.renewed);
            let lapse = if since > self.lease + self.grace {
                Some(Lapse::Lost)
            } else if since > self.lease {
                Some(Lapse::Unreachable)
            } else {
                None
            };
            if lapse.is_some() && lapse > held.reported {
                held.reported = lapse;
                due.push((name.clone(), lapse.unwrap_or(Lapse::Unreachable)));
            }
        }
        due
    }

    /// When the next lapse may be due, for the watcher's sleep.
    pub fn next_due(&self) -> Option<Instant> {
        self.nodes
            .values()
            .filter_map(|h| match h.reported {
                None => Some(h.renewed + self.lease),
                Some(Lapse::Unreachable) => Some(h.renewed + self.lease + self.grace),
                Some(Lapse::Lost) => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leases() -> (Leases, Instant) {
        (
            Leases::new(Duration::from_secs(3), Duration::from_secs(1)),
            Instant::now(),
        )
    }

    #[test]
    fn a_node_that_renews_never_lapses() {
        let (mut l, t0) = leases();
        l.renew("n1", t0);
        for s in 1..=20 {
            l.renew("n1", t0 + Duration::from_secs(s));
            assert!(l.due(t0 + Duration::from_millis(s * 1000 + 500)).is_empty());
        }
    }

    #[test]
    fn a_silent_node_is_unreachable_after_the_lease_and_lost_after_the_grace_once_each() {
        let (mut l, t0) = leases();
        l.renew("n1", t0);
        assert!(l.due(t0 + Duration::from_millis(3000)).is_empty());
        assert_eq!(
            l.due(t0 + Duration::from_millis(3001)),
            vec![("n1".to_string(), Lapse::Unreachable)]
        );
        assert!(l.due(t0 + Duration::from_millis(3500)).is_empty());
        assert_eq!(
            l.due(t0 + Duration::from_millis(4001)),
            vec![("n1".to_string(), Lapse::Lost)]
        );
        assert!(
            l.due(t0 + Duration::from_secs(60)).is_empty(),
            "reported once"
        );
        assert_eq!(l.next_due(), None);
    }

    #[test]
    fn a_node_seen_only_past_the_grace_is_reported_lost_at_once() {
        let (mut l, t0) = leases();
        l.track("n1", t0);
        assert_eq!(
            l.due(t0 + Duration::from_secs(10)),
            vec![("n1".to_string(), Lapse::Lost)]
        );
    }

    #[test]
    fn a_renewal_after_a_lapse_starts_a_new_lease() {
        let (mut l, t0) = leases();
        l.renew("n1", t0);
        assert_eq!(l.due(t0 + Duration::from_secs(5)).len(), 1);
        l.renew("n1", t0 + Duration::from_secs(6));
        assert!(l.due(t0 + Duration::from_secs(8)).is_empty());
        assert_eq!(l.next_due(), Some(t0 + Duration::from_secs(9)));
        assert_eq!(
            l.due(t0 + Duration::from_millis(9001)),
            vec![("n1".to_string(), Lapse::Unreachable)]
        );
    }

    #[test]
    fn tracking_a_known_node_keeps_its_lease_as_it_is() {
        let (mut l, t0) = leases();
        l.renew("n1", t0);
        l.track("n1", t0 + Duration::from_secs(2));
        assert_eq!(l.due(t0 + Duration::from_millis(3001)).len(), 1);
    }
}
