//! Probe latency: every periodic probe's run time, by kind, in one histogram family that the
//! daemon's `/metrics` exposes (`orco_probe_duration_seconds`).

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// The probe kind a measurement is about.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `http`, `tcp` or `cmd`.
    pub kind: String,
}

/// Probe run times by kind.
pub type Latency = Family<KindLabel, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new([
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    ])
}

/// The process's probe latencies (shared: clones of a family share its values).
pub fn latency() -> &'static Latency {
    static LATENCY: OnceLock<Latency> = OnceLock::new();
    LATENCY.get_or_init(|| Latency::new_with_constructor(histogram))
}

/// Records one run of a `kind` probe that took `seconds`.
pub(crate) fn observe(kind: &str, seconds: f64) {
    latency()
        .get_or_create(&KindLabel {
            kind: kind.to_string(),
        })
        .observe(seconds);
}
