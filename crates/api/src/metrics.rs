//! `/metrics`: Prometheus text, through prometheus-client. Instance counts and restarts are
//! read from the state at scrape time; API latency is recorded by a middleware.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use orco_state::State;

use crate::views::phase;
use orco_wire::InstancePhase;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ])
}

/// The daemon's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    instances: Family<PhaseLabel, Gauge>,
    restarts: Gauge,
    head: Gauge,
    appended: Counter,
    last_head: AtomicU64,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    auth_failures: Family<ReasonLabel, Counter>,
    encode: Mutex<()>,
}

impl Metrics {
    /// Registers every metric; `head` is the log's head at start (events appended before
    /// start are not counted in `orco_events_appended_total`).
    pub fn new(head: u64) -> Metrics {
        let mut registry = Registry::with_prefix("orco");
        let instances = Family::<PhaseLabel, Gauge>::default();
        registry.register("instances", "Instances by phase", instances.clone());
        let restarts = Gauge::default();
        registry.register(
            "instance_restarts",
            "Restarts of the current instances, summed over their restart counters",
            restarts.clone(),
        );
        let head_gauge = Gauge::default();
        registry.register(
            "store_head_revision",
            "The revision of the last event in the log",
            head_gauge.clone(),
        );
        let appended = Counter::default();
        registry.register(
            "events_appended",
            "Events appended to the log since the daemon started",
            appended.clone(),
        );
        let requests = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "probe_duration_seconds",
            "Health probe run time, by kind (http, tcp, cmd), in this process",
            orco_probe::metrics::latency().clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "API request latency, by method, route and status",
            requests.clone(),
        );
        let auth_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "api_auth_failures",
            "Requests on the TCP listener refused for their token, by reason (missing, invalid, revoked, expired, forbidden, throttled)",
            auth_failures.clone(),
        );
        for reason in [
            "missing",
            "invalid",
            "revoked",
            "expired",
            "forbidden",
            "throttled",
        ] {
            let _ = auth_failures.get_or_create(&ReasonLabel {
                reason: reason.into(),
            });
        }
        Metrics {
            registry,
            instances,
            restarts,
            head: head_gauge,
            appended,
            last_head: AtomicU64::new(head),
            requests,
            auth_failures,
            encode: Mutex::new(()),
        }
    }

    /// Records one API request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.into(),
                route: route.into(),
                status: status.to_string(),
            })
            .observe(seconds);
    }

    /// Counts one request refused for its token, by `reason`.
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// Encodes every metric as Prometheus text, refreshing the state-derived ones from
    /// `state`.
    pub fn render(&self, state: &State) -> String {
        let _guard = self.encode.lock();
        for p in InstancePhase::ALL {
            let n = state
                .instances
                .values()
                .filter(|i| phase(i.phase) == p)
                .count();
            self.instances
                .get_or_create(&PhaseLabel {
                    phase: p.as_str().into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let restarts: u64 = state
            .instances
            .values()
            .map(|i| u64::from(i.restarts.total))
            .sum();
        self.restarts
            .set(i64::try_from(restarts).unwrap_or(i64::MAX));
        self.head
            .set(i64::try_from(state.revision).unwrap_or(i64::MAX));
        let before = self.last_head.swap(state.revision, Ordering::AcqRel);
        if state.revision > before {
            self.appended.inc_by(state.revision - before);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
