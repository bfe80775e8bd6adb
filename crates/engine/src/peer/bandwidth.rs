//! Send-side bandwidth estimation: webrtc-rs's GCC estimator (fed by transport-wide congestion control
//! feedback, with its pacer) wrapped so the application can read the estimate — the encoder follows it —
//! and so that the pacer runs faster than the estimate.
//!
//! The pacer (one FIFO for every RTP packet, audio included) releases at whatever rate the estimator
//! reports. At exactly the estimate it is the bottleneck whenever the encoder overshoots, keyframes and
//! retransmissions come on top, or the estimate drops: its queue (4096 packets) grows, and audio waits
//! behind video for seconds — at 10 % random loss, where GCC falls to its floor, the receiver got under
//! half of the audio. libwebrtc paces at 2.5× the estimate for the same reason; so does this wrapper
//! ([`PACING_FACTOR`]): the encoder follows the estimate, the pacer only smooths bursts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, Gcc, PacketReport};

/// Where a call's estimate starts, and its bounds (bits per second).
pub const INITIAL_BPS: f64 = 1_000_000.0;
pub const MIN_BPS: f64 = 100_000.0;
pub const MAX_BPS: f64 = 4_000_000.0;
/// The pacer's rate over the estimate (libwebrtc's `kDefaultPaceMultiplier`).
pub const PACING_FACTOR: f64 = 2.5;

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

    /// What the pacer is driven with (see the module docs); the encoder reads the estimate itself.
    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate() * PACING_FACTOR
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
