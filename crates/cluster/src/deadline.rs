//! The agent's side of its lease, purely: the deadline after which it fences its instances
//! by itself. The deadline is the *send* time of the last renewal the server granted plus
//! the lease granted, on the boot clock (CLOCK_BOOTTIME: it runs during suspend), so that
//! a renewal delayed in transit, or an agent suspended, only makes the deadline earlier.

use orco_interface::Lease;

/// Milliseconds on the boot clock (runs during suspend, never jumps back).
pub fn boot_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1000 + u64::try_from(t.tv_nsec).unwrap_or(0) / 1_000_000
}

/// When the agent's lease ends, if one was granted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline {
    at_ms: Option<u64>,
}

impl Deadline {
    /// A renewal was granted: the deadline moves to its send time plus the lease, never back.
    pub fn granted(&mut self, lease: Lease) {
        let at = lease.sent_ms.saturating_add(lease.lease_ms);
        self.at_ms = Some(self.at_ms.map_or(at, |old| old.max(at)));
    }

    /// The deadline, on the boot clock.
    pub fn at_ms(&self) -> Option<u64> {
        self.at_ms
    }

    /// Whether it passed at `now_ms`: never before a lease was granted.
    pub fn passed(&self, now_ms: u64) -> bool {
        self.at_ms.is_some_and(|at| now_ms >= at)
    }

    /// The instances were fenced: nothing is armed until the next grant.
    pub fn disarm(&mut self) {
        self.at_ms = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_counts_from_the_send_time_not_the_receive_time() {
        let mut d = Deadline::default();
        assert!(!d.passed(u64::MAX), "nothing armed before a grant");
        // Sent at 10 s, received (late) at 12 s: the lease of 3 s ends at 13 s.
        d.granted(Lease {
            sent_ms: 10_000,
            lease_ms: 3_000,
        });
        assert!(!d.passed(12_999));
        assert!(d.passed(13_000));
    }

    #[test]
    fn a_grant_of_an_older_renewal_never_moves_the_deadline_back() {
        let mut d = Deadline::default();
        d.granted(Lease {
            sent_ms: 20_000,
            lease_ms: 3_000,
        });
        d.granted(Lease {
            sent_ms: 19_000,
            lease_ms: 3_000,
        });
        assert_eq!(d.at_ms(), Some(23_000));
        d.disarm();
        assert!(!d.passed(u64::MAX));
    }

    #[test]
    fn the_boot_clock_moves_forward() {
        let a = boot_ms();
        let b = boot_ms();
        assert!(b >= a && a > 0);
    }
}
