//! Cameras without a camera: format conversion on recorded frames (the fixtures, made by
//! `examples/camera_fixtures.rs`), and the camera source against a fake backend behind the same trait as
//! nokhwa's — no camera at all, one that vanishes mid-stream and one that comes back.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::frames::{i420_to_yuyv, psnr};
use tincan_devices::camera::{
    CameraBackend, CameraDevice, CameraInfo, CameraOptions, CameraSource, Mode, PixelFormat, RawFrame, Wanted,
};
use tincan_devices::{DeviceNotice, Notices, Result};
use tincan_media::MediaError;
use tincan_media::source::VideoSource;
use tincan_media::synthetic::{TestPattern, read_stamp};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/camera").join(name))
        .expect("fixture")
}

#[test]
fn recorded_frames_convert_to_the_pattern_they_carry() {
    let original = TestPattern::new(160, 120, 30, false).unwrap().render(1234, 0, Duration::ZERO);
    for (file, format, min_psnr) in [
        ("pattern-160x120.yuyv", PixelFormat::Yuyv, f64::INFINITY),
        ("pattern-160x120.nv12", PixelFormat::Nv12, f64::INFINITY),
        ("pattern-160x120.mjpg", PixelFormat::Mjpeg, 30.0),
    ] {
        let raw = RawFrame { format, width: 160, height: 120, data: fixture(file) };
        let frame = raw.to_i420(Duration::from_millis(40)).unwrap();
        assert_eq!((frame.width, frame.height, frame.timestamp), (160, 120, Duration::from_millis(40)));
        assert_eq!(read_stamp(&frame).map(|s| s.counter), Some(1234), "{file}: the stamp survives");
        let p = psnr(&frame, &original);
        assert!(p >= min_psnr, "{file}: luma PSNR {p:.1} dB");
        // Chroma too: the pattern's drifting colours come through (4:2:2 → 4:2:0 averages rows).
        let chroma_error = frame.u().iter().zip(original.u()).map(|(a, b)| (*a as i32 - *b as i32).abs()).max();
        assert!(chroma_error.unwrap() <= 12, "{file}: chroma off by {chroma_error:?}");
    }
}

#[test]
fn damaged_frames_are_errors_not_panics() {
    let yuyv = fixture("pattern-160x120.yuyv");
    let nv12 = fixture("pattern-160x120.nv12");
    let mjpg = fixture("pattern-160x120.mjpg");
    let cases = [
        RawFrame { format: PixelFormat::Yuyv, width: 160, height: 120, data: yuyv[..1000].to_vec() },
        RawFrame { format: PixelFormat::Nv12, width: 160, height: 120, data: nv12[..160 * 120].to_vec() },
        RawFrame { format: PixelFormat::Mjpeg, width: 160, height: 120, data: mjpg[..mjpg.len() / 3].to_vec() },
        RawFrame { format: PixelFormat::Mjpeg, width: 160, height: 120, data: vec![0xff, 0xd8, 0xff, 0x00, 1, 2, 3] },
        RawFrame { format: PixelFormat::Yuyv, width: 0, height: 0, data: Vec::new() },
    ];
    for raw in cases {
        assert!(raw.to_i420(Duration::ZERO).is_err(), "{:?} {} bytes", raw.format, raw.data.len());
    }
    // Odd sizes lose a row and a column rather than failing.
    let odd = RawFrame { format: PixelFormat::Yuyv, width: 161, height: 121, data: vec![128; 161 * 2 * 121] };
    let frame = odd.to_i420(Duration::ZERO).unwrap();
    assert_eq!((frame.width, frame.height), (160, 120));
}

/// A camera that can be plugged in and out.
#[derive(Default)]
struct FakeBackend {
    plugged: Arc<AtomicBool>,
    opened: Mutex<u32>,
}

const MODE: Mode = Mode { format: PixelFormat::Yuyv, width: 160, height: 120, fps: 30 };

impl CameraBackend for FakeBackend {
    fn list(&self) -> Result<Vec<CameraInfo>> {
        Ok(if self.plugged.load(Ordering::SeqCst) {
            vec![CameraInfo { index: 0, name: "Fake Cam".into(), description: "test".into(), modes: vec![MODE] }]
        } else {
            Vec::new()
        })
    }

    fn open(&self, camera: &CameraInfo, wanted: Wanted) -> Result<Box<dyn CameraDevice>> {
        assert_eq!(tincan_devices::camera::mode::choose(&camera.modes, wanted), Some(MODE));
        *self.opened.lock().unwrap() += 1;
        Ok(Box::new(FakeCamera { plugged: self.plugged.clone(), counter: 0 }))
    }
}

struct FakeCamera {
    plugged: Arc<AtomicBool>,
    counter: u32,
}

impl CameraDevice for FakeCamera {
    fn mode(&self) -> Mode {
        MODE
    }

    fn grab(&mut self) -> Result<RawFrame> {
        std::thread::sleep(Duration::from_millis(33));
        if !self.plugged.load(Ordering::SeqCst) {
            return Err(tincan_devices::DeviceError::Lost {
                kind: "camera",
                name: "Fake Cam".into(),
                message: "No such device".into(),
            });
        }
        self.counter += 1;
        let frame = TestPattern::new(160, 120, 30, false).unwrap().render(self.counter, 0, Duration::ZERO);
        Ok(RawFrame { format: PixelFormat::Yuyv, width: 160, height: 120, data: i420_to_yuyv(&frame) })
    }
}

/// Frames (their stamps) and errors over `seconds`.
fn pull(source: &mut CameraSource, seconds: f64) -> (Vec<u32>, usize) {
    let (mut counters, mut errors) = (Vec::new(), 0);
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < until {
        match source.next_frame() {
            Ok(f) => counters.push(read_stamp(&f).expect("stamped").counter),
            Err(MediaError::Device(_)) => errors += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    (counters, errors)
}

#[test]
fn no_camera_is_a_state_and_a_camera_that_comes_and_goes_is_followed() {
    let backend = Arc::new(FakeBackend::default());
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let mut source = CameraSource::start(
        backend.clone(),
        CameraOptions {
            device: Some("fake".into()),
            notices: Notices::new(move |n| seen.lock().unwrap().push(n)),
            ..Default::default()
        },
    )
    .unwrap();

    // Nothing plugged in: no frames, an error the engine retries, one notice.
    let (frames, errors) = pull(&mut source, 1.5);
    assert!(frames.is_empty() && errors >= 1);
    assert!(matches!(&notices.lock().unwrap()[..], [DeviceNotice::Absent { kind: "camera", .. }]));

    // Plugged in: frames flow, in order.
    backend.plugged.store(true, Ordering::SeqCst);
    let (frames, _) = pull(&mut source, 2.5);
    assert!(frames.len() >= 20, "{} frames", frames.len());
    assert!(frames.windows(2).all(|w| w[1] > w[0]), "in order: {frames:?}");

    // Unplugged mid-stream: frames stop, the source says so, the notice names the camera.
    backend.plugged.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    let (frames, errors) = pull(&mut source, 1.5);
    assert!(frames.len() <= 2 && errors >= 1, "{} frames, {errors} errors", frames.len());
    assert!(
        notices.lock().unwrap().iter().any(|n| matches!(n, DeviceNotice::Lost { name, .. } if name == "Fake Cam")),
        "{:?}",
        notices.lock().unwrap()
    );

    // Back: capture resumes by itself (the camera is opened again).
    backend.plugged.store(true, Ordering::SeqCst);
    let (frames, _) = pull(&mut source, 2.5);
    assert!(frames.len() >= 20, "{} frames after re-plugging", frames.len());
    assert_eq!(*backend.opened.lock().unwrap(), 2);
    assert!(source.stats().grabbed >= 40);
}

#[test]
fn a_slow_consumer_gets_the_newest_frame_and_nothing_queues() {
    let backend = Arc::new(FakeBackend::default());
    backend.plugged.store(true, Ordering::SeqCst);
    let mut source = CameraSource::start(backend, CameraOptions::default()).unwrap();
    let first = source.next_frame().unwrap();
    std::thread::sleep(Duration::from_millis(500)); // ~15 frames grabbed meanwhile
    let next = source.next_frame().unwrap();
    let (a, b) = (read_stamp(&first).unwrap().counter, read_stamp(&next).unwrap().counter);
    assert!(b >= a + 12, "the newest frame, not the next one: {a} then {b}");
    assert!(source.stats().dropped >= 10, "{:?}", source.stats());
}
