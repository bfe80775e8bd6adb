//! What the display path costs, measured as it runs: how many frames were decoded, sent to the webview,
//! drawn, skipped (the UI was slower) or held back (window hidden), and how long a frame takes from
//! leaving Rust to being drawn (IPC + WebGL upload + draw), and — when the frame carries the test
//! pattern's stamp (a `tincan-cli` peer on this machine) — from capture at the peer to drawn here.
//! Logged when the call ends; `tincan-display-bench` reads that line.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tincan_media::VideoFrame;
use tincan_media::synthetic::{read_stamp, wall_clock_us};

/// The most recent samples kept (about two minutes at 30 fps).
const KEEP: usize = 4096;

#[derive(Default)]
pub struct DisplayStats {
    pub decoded: u64,
    pub sent: u64,
    pub drawn: u64,
    pub hidden: u64,
    /// (sent, handed over by the decoder, capture stamp) of the frame the UI is drawing.
    in_flight: Option<(Instant, Instant, Option<u32>)>,
    /// Handed over → drawn (µs), smoothed: the display path's latency, for lip sync.
    display_us: Option<f64>,
    send_to_drawn_ms: VecDeque<f32>,
    capture_to_drawn_ms: VecDeque<f32>,
}

fn push(samples: &mut VecDeque<f32>, v: f32) {
    if samples.len() == KEEP {
        samples.pop_front();
    }
    samples.push_back(v);
}

fn percentile(samples: &VecDeque<f32>, p: f32) -> f32 {
    if samples.is_empty() {
        return f32::NAN;
    }
    let mut v: Vec<f32> = samples.iter().copied().collect();
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f32 * p).round() as usize]
}

impl DisplayStats {
    /// `frame`, handed over by the decoder at `handed`, goes to the webview now.
    pub fn on_sent(&mut self, frame: &VideoFrame, handed: Instant) {
        self.sent += 1;
        self.in_flight = Some((Instant::now(), handed, read_stamp(frame).map(|s| s.capture_us)));
    }

    pub fn on_drawn(&mut self) {
        let Some((sent_at, handed, capture_us)) = self.in_flight.take() else { return };
        self.drawn += 1;
        let us = handed.elapsed().as_micros() as f64;
        self.display_us = Some(self.display_us.map_or(us, |d| d + 0.1 * (us - d)));
        push(&mut self.send_to_drawn_ms, sent_at.elapsed().as_secs_f32() * 1000.0);
        if let Some(c) = capture_us {
            let us = wall_clock_us().wrapping_sub(c);
            // A stamp from another clock (a remote peer) gives nonsense: keep only plausible values.
            if us < 10_000_000 {
                push(&mut self.capture_to_drawn_ms, us as f32 / 1000.0);
            }
        }
    }

    /// How long a frame handed over now takes to be drawn, as measured lately.
    pub fn display_latency(&self) -> Option<Duration> {
        self.display_us.map(|us| Duration::from_micros(us as u64))
    }

    /// One line with every figure (`key=value`), for the log and the benchmark.
    pub fn summary(&self) -> String {
        let skipped = self.decoded.saturating_sub(self.sent + self.hidden);
        format!(
            "decoded={} sent={} drawn={} skipped={} hidden={} send_to_drawn_ms_p50={:.1} send_to_drawn_ms_p95={:.1} \
             capture_to_drawn_ms_p50={:.1} capture_to_drawn_ms_p95={:.1}",
            self.decoded,
            self.sent,
            self.drawn,
            skipped,
            self.hidden,
            percentile(&self.send_to_drawn_ms, 0.5),
            percentile(&self.send_to_drawn_ms, 0.95),
            percentile(&self.capture_to_drawn_ms, 0.5),
            percentile(&self.capture_to_drawn_ms, 0.95),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tincan_media::source::VideoSource;
    use tincan_media::synthetic::TestPattern;

    #[test]
    fn counts_and_latencies() {
        let mut stats = DisplayStats::default();
        let mut pattern = TestPattern::new(320, 240, 30, false).unwrap();
        let frame = pattern.next_frame().unwrap();
        stats.decoded = 3;
        assert_eq!(stats.display_latency(), None);
        let handed = Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(3));
        stats.on_sent(&frame, handed);
        std::thread::sleep(std::time::Duration::from_millis(5));
        stats.on_drawn();
        let display = stats.display_latency().expect("measured");
        assert!(display >= Duration::from_millis(8), "handed over → drawn: {display:?}");
        stats.on_drawn(); // an ack with nothing in flight counts nothing
        stats.hidden = 1;
        let line = stats.summary();
        assert!(line.starts_with("decoded=3 sent=1 drawn=1 skipped=1 hidden=1 "), "{line}");
        let p50: f32 = line.split("send_to_drawn_ms_p50=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        assert!((5.0..1000.0).contains(&p50), "{line}");
        let capture: f32 =
            line.split("capture_to_drawn_ms_p50=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        assert!(capture >= p50, "capture happened before sending: {line}");
    }
}
