//! Failed token attempts per client address, and the refusal of an address that failed too
//! often: pure bookkeeping with the moment passed in, so it is tested without a clock.
//!
//! An address that presented a wrong, revoked or expired token [`MAX_FAILURES`] times within
//! [`WINDOW`] is refused (429) until that window, counted from its first failure, has passed
//! — even with a good token, so that guessing never gets faster than that. IPv6 addresses
//! count by their /64 (one host usually has a whole /64). The table holds at most
//! [`CAPACITY`] addresses: when it is full, windows that have passed are dropped first, then
//! the address whose window started longest ago, so memory stays bounded whatever the number
//! of addresses that try.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures an address may have within [`WINDOW`] before it is refused.
pub const MAX_FAILURES: u32 = 10;
/// How long an address's failures count, from its first one.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most addresses tracked at once.
pub const CAPACITY: usize = 4_096;

/// The failures of each recent address.
#[derive(Debug)]
pub struct Throttle {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    entries: HashMap<IpAddr, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new(MAX_FAILURES, WINDOW, CAPACITY)
    }
}

impl Throttle {
    /// A throttle refusing an address after `max_failures` within `window`, tracking at most
    /// `capacity` addresses.
    pub fn new(max_failures: u32, window: Duration, capacity: usize) -> Throttle {
        Throttle {
            max_failures: max_failures.max(1),
            window,
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// How long `address` is still refused at `now`, if it is.
    pub fn refused(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let entry = self.entries.get(&key(address))?;
        let ends = entry.since + self.window;
        (entry.failures >= self.max_failures && now < ends).then(|| ends - now)
    }

    /// Counts a failure of `address` at `now`.
    pub fn failed(&mut self, address: IpAddr, now: Instant) {
        let key = key(address);
        let window = self.window;
        if let Some(entry) = self.entries.get_mut(&key) {
            if now >= entry.since + window {
                *entry = Entry {
                    failures: 1,
                    since: now,
                };
            } else {
                entry.failures = entry.failures.saturating_add(1);
            }
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| now < e.since + window);
        }
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.since)
                .map(|(k, _)| *k)
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(
            key,
            Entry {
                failures: 1,
                since: now,
            },
        );
    }

    /// How many addresses are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What an address counts as: itself for IPv4, its /64 for IPv6 (an IPv4-mapped IPv6
/// address as its IPv4 address).
fn key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn an_address_is_refused_after_its_failures_until_its_window_has_passed() {
        let start = Instant::now();
        let mut throttle = Throttle::new(3, Duration::from_secs(60), 16);
        let a = ip("192.0.2.1");
        for n in 0..2 {
            throttle.failed(a, start + Duration::from_secs(n));
        }
        assert_eq!(throttle.refused(a, start + Duration::from_secs(2)), None);
        throttle.failed(a, start + Duration::from_secs(2));
        assert_eq!(
            throttle.refused(a, start + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        // Another address is not touched.
        assert_eq!(throttle.refused(ip("192.0.2.2"), start), None);
        // Once the window has passed the address may try again, and its count starts over.
        let later = start + Duration::from_secs(60);
        assert_eq!(throttle.refused(a, later), None);
        throttle.failed(a, later);
        assert_eq!(throttle.refused(a, later), None);
    }

    #[test]
    fn ipv6_addresses_of_one_64_prefix_count_together_and_mapped_ipv4_as_ipv4() {
        let start = Instant::now();
        let mut throttle = Throttle::new(2, Duration::from_secs(60), 16);
        throttle.failed(ip("2001:db8:1:2::1"), start);
        throttle.failed(ip("2001:db8:1:2:ffff::9"), start);
        assert!(throttle.refused(ip("2001:db8:1:2::77"), start).is_some());
        assert!(throttle.refused(ip("2001:db8:1:3::1"), start).is_none());
        throttle.failed(ip("::ffff:192.0.2.7"), start);
        throttle.failed(ip("192.0.2.7"), start);
        assert!(throttle.refused(ip("192.0.2.7"), start).is_some());
    }

    #[test]
    fn the_table_never_holds_more_than_its_capacity_and_drops_the_oldest_first() {
        let start = Instant::now();
        let mut throttle = Throttle::new(1, Duration::from_secs(60), 100);
        for n in 0..10_000u32 {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            throttle.failed(address, start + Duration::from_millis(u64::from(n)));
            assert!(throttle.len() <= 100);
        }
        // The most recent are still refused; the first were dropped to make room.
        let now = start + Duration::from_secs(10);
        let last = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + 9_999));
        assert!(throttle.refused(last, now).is_some());
        assert!(throttle.refused(ip("10.0.0.0"), now).is_none());
        // Windows that have passed are dropped before any live one.
        let mut throttle = Throttle::new(1, Duration::from_secs(60), 2);
        throttle.failed(ip("192.0.2.1"), start);
        throttle.failed(ip("192.0.2.2"), start + Duration::from_secs(30));
        throttle.failed(ip("192.0.2.3"), start + Duration::from_secs(61));
        assert_eq!(throttle.len(), 2);
        assert!(
            throttle
                .refused(ip("192.0.2.2"), start + Duration::from_secs(61))
                .is_some()
        );
    }
}
