//! Capture-to-send latency of the camera path, on a recorded MJPEG stream (no camera here): 90 frames of the
//! stamped test pattern at 1280x720, encoded as a USB camera does (JPEG, YCbCr 4:2:2, quality 85), are
//! replayed at 30 fps by a device behind the camera trait; the real camera source (capture thread, one-frame
//! slot, MJPEG → I420) feeds the real VP8 encoder thread. Per frame: device hand-over → I420 ready
//! (conversion) → encoded (ready for the RTP packetizer). Prints p50/p95 and the CPU used.
//!
//! `cargo run --release -p tincan-devices --example camera_bench [-- --seconds 10 --codec h264]`

#[path = "../tests/common/frames.rs"]
mod frames;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tincan_devices::camera::{
    CameraBackend, CameraDevice, CameraInfo, CameraOptions, CameraSource, Mode, PixelFormat, RawFrame, Wanted,
};
use tincan_media::codec::{Content, EncoderSettings, EncoderThread, VideoCodec, video_encoder};
use tincan_media::source::VideoSource;
use tincan_media::synthetic::TestPattern;

const MODE: Mode = Mode { format: PixelFormat::Mjpeg, width: 1280, height: 720, fps: 30 };

struct Recording(Arc<Vec<Vec<u8>>>);

impl CameraBackend for Recording {
    fn list(&self) -> tincan_devices::Result<Vec<CameraInfo>> {
        Ok(vec![CameraInfo { index: 0, name: "recording".into(), description: String::new(), modes: vec![MODE] }])
    }
    fn open(&self, _: &CameraInfo, _: Wanted) -> tincan_devices::Result<Box<dyn CameraDevice>> {
        Ok(Box::new(Replay { frames: self.0.clone(), next: 0, due: Instant::now() }))
    }
}

struct Replay {
    frames: Arc<Vec<Vec<u8>>>,
    next: usize,
    due: Instant,
}

impl CameraDevice for Replay {
    fn mode(&self) -> Mode {
        MODE
    }
    fn grab(&mut self) -> tincan_devices::Result<RawFrame> {
        self.due += Duration::from_secs(1) / 30;
        std::thread::sleep(self.due.saturating_duration_since(Instant::now()));
        let data = self.frames[self.next % self.frames.len()].clone();
        self.next += 1;
        Ok(RawFrame { format: PixelFormat::Mjpeg, width: 1280, height: 720, data })
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()).unwrap_or(0.0);
    ticks / 100.0
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let seconds: f64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let codec = if arg("--codec").as_deref() == Some("h264") { VideoCodec::H264 } else { VideoCodec::Vp8 };

    let pattern = TestPattern::new(1280, 720, 30, false).expect("size");
    let recording: Vec<Vec<u8>> = (0..90)
        .map(|i| frames::i420_to_jpeg(&pattern.render(i, 0, Duration::from_millis(i as u64 * 33)), 85))
        .collect();
    let mean_kb = recording.iter().map(Vec::len).sum::<usize>() as f64 / recording.len() as f64 / 1024.0;

    let mut source =
        CameraSource::start(Arc::new(Recording(Arc::new(recording))), CameraOptions::default()).expect("source");
    let started = Instant::now();
    let encoded: Arc<Mutex<Vec<(Duration, Instant)>>> = Arc::default();
    let sink = encoded.clone();
    let encoder = video_encoder(
        codec,
        EncoderSettings { width: 1280, height: 720, fps: 30, bitrate_bps: 1_500_000, content: Content::Camera },
    )
    .expect("encoder");
    let thread =
        EncoderThread::spawn(encoder, 1_500_000, move |e| sink.lock().unwrap().push((e.timestamp, Instant::now())));
    let mut converted = Vec::new();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < seconds {
        let Ok(frame) = source.next_frame() else { continue };
        let ready = Instant::now();
        // The frame's timestamp is when the device handed it over (relative to the source's start).
        converted.push((ready.duration_since(started).saturating_sub(frame.timestamp)).as_secs_f64() * 1000.0);
        thread.submit(frame);
    }
    let cpu = (cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    thread.stop();
    let mut to_send: Vec<f64> = encoded
        .lock()
        .unwrap()
        .iter()
        .map(|(ts, at)| at.duration_since(started).saturating_sub(*ts).as_secs_f64() * 1000.0)
        .collect();
    let stats = source.stats();
    println!(
        "camera path, recorded MJPEG 1280x720 ({mean_kb:.0} KB/frame), {codec}: {} frames sent in {seconds} s ({:.1} fps); \
         capture → I420 p50 {:.1} ms p95 {:.1} ms; capture → encoded (to RTP) p50 {:.1} ms p95 {:.1} ms; \
         slot drops {}; CPU {cpu:.0} % of a core",
        to_send.len(),
        to_send.len() as f64 / seconds,
        pct(&mut converted, 0.5),
        pct(&mut converted, 0.95),
        pct(&mut to_send, 0.5),
        pct(&mut to_send, 0.95),
        stats.dropped,
    );
}
