//! Send-side bandwidth estimation: webrtc-rs's GCC estimator (fed by transport-wide congestion control
//! feedback, with its pacer) wrapped so the application can read the estimate — the encoder follows it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, Gcc, PacketReport};

/// Where a call's estimate starts, and its bounds (bits per second).
pub const INITIAL_BPS: f64 = 1_000_000.0;
pub const MIN_BPS: f64 = 100_000.0;
pub const MAX_BPS: f64 = 4_000_000.0;

/// The current estimate, readable from any thread.
#[derive(Clone, Debug)]
pub struct BandwidthTarget(Arc<AtomicU64>);

impl BandwidthTarget {
    pub fn bps(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

pub struct ReportingEstimator<E: BandwidthEstimator> {
    inner: E,
    target: Arc<AtomicU64>,
}

impl ReportingEstimator<Gcc> {
    pub fn gcc() -> (Self, BandwidthTarget) {
        let inner = Gcc::new(INITIAL_BPS, MIN_BPS, MAX_BPS);
        let target = Arc::new(AtomicU64::new(inner.target_bitrate().to_bits()));
        (ReportingEstimator { inner, target: target.clone() }, BandwidthTarget(target))
    }
}

impl<E: BandwidthEstimator> ReportingEstimator<E> {
    fn publish(&self) {
        self.target.store(self.inner.target_bitrate().to_bits(), Ordering::Relaxed);
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for ReportingEstimator<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        self.publish();
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}
