//! The camera as a [`VideoSource`]. A capture thread of its own opens the camera and grabs frames into a
//! one-frame slot (a newer frame replaces one not yet taken: latency never builds up, nothing queues); the
//! engine's capture thread takes the newest and converts it to I420, so frames that would be dropped are
//! never converted.
//!
//! Absence is a state, not an error: with no camera the source waits for one (and says so once); a camera
//! that fails mid-call (unplugged) is reported, the source reports `MediaError::Device` to the engine (which
//! tells the peer "camera off"), and the capture thread looks for the chosen camera — or any camera — every
//! second, so capture resumes by itself when one is back.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tincan_media::source::VideoSource;
use tincan_media::{MediaError, VideoFrame};

use super::convert::RawFrame;
use super::device::{CameraBackend, CameraDevice, CameraInfo, pick};
use super::mode::Wanted;
use crate::{DeviceError, DeviceNotice, Notices, Result};

const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Waiting longer than this for a frame is reported to the engine (which asks again).
const NO_FRAME: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
pub struct CameraOptions {
    /// Index, name or part of a name; `None` takes the first camera.
    pub device: Option<String>,
    pub wanted: Wanted,
    pub notices: Notices,
}

#[derive(Default)]
struct Slot {
    frame: Mutex<Option<(RawFrame, Instant)>>,
    ready: Condvar,
    /// Frames replaced before anyone took them.
    dropped: AtomicU64,
    /// Frames grabbed.
    grabbed: AtomicU64,
}

pub struct CameraSource {
    slot: Arc<Slot>,
    stop: Arc<AtomicBool>,
    /// Not joined on drop: it may be blocked in a grab; it ends after it (a camera delivers within a frame
    /// time).
    _thread: JoinHandle<()>,
    name: Arc<Mutex<String>>,
    started: Instant,
    /// How old the last frame returned was.
    delay: Option<Duration>,
}

/// Counters of a running camera.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct CameraStats {
    pub grabbed: u64,
    pub dropped: u64,
}

impl CameraSource {
    /// Start capturing. Never fails for want of a camera: see the module notes.
    pub fn start(backend: Arc<dyn CameraBackend>, options: CameraOptions) -> Result<Self> {
        let slot = Arc::new(Slot::default());
        let stop = Arc::new(AtomicBool::new(false));
        let name = Arc::new(Mutex::new(options.device.clone().unwrap_or_else(|| "camera".into())));
        let (t_slot, t_stop, t_name) = (slot.clone(), stop.clone(), name.clone());
        let thread = std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || capture(backend.as_ref(), &options, &t_slot, &t_stop, &t_name))
            .map_err(|e| DeviceError::Backend { kind: "camera", name: "thread".into(), message: e.to_string() })?;
        Ok(CameraSource { slot, stop, _thread: thread, name, started: Instant::now(), delay: None })
    }

    pub fn stats(&self) -> CameraStats {
        CameraStats {
            grabbed: self.slot.grabbed.load(Ordering::Relaxed),
            dropped: self.slot.dropped.load(Ordering::Relaxed),
        }
    }

    fn name(&self) -> String {
        self.name.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

/// The capture thread: find, open, grab until it fails, again.
fn capture(backend: &dyn CameraBackend, options: &CameraOptions, slot: &Slot, stop: &AtomicBool, name: &Mutex<String>) {
    let notices = &options.notices;
    let mut told_absent = false;
    let mut lost: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let camera = match find(backend, options.device.as_deref()) {
            Ok(c) => c,
            Err(message) => {
                if !told_absent {
                    notices.send(DeviceNotice::Absent { kind: "camera", message });
                    told_absent = true;
                }
                sleep_unless_stopped(stop, RETRY_EVERY);
                continue;
            }
        };
        let device = match backend.open(&camera, options.wanted) {
            Ok(d) => d,
            Err(e) => {
                if !told_absent {
                    notices.send(DeviceNotice::Absent { kind: "camera", message: e.to_string() });
                    told_absent = true;
                }
                sleep_unless_stopped(stop, RETRY_EVERY);
                continue;
            }
        };
        told_absent = false;
        if let Ok(mut n) = name.lock() {
            *n = camera.name.clone();
        }
        if let Some(was) = lost.take() {
            tracing::info!("camera {was} replaced by {}", camera.name);
        }
        notices.send(DeviceNotice::Using { kind: "camera", name: format!("{} ({:?})", camera.name, device.mode()) });
        let failure = grab_until_failure(device, slot, stop);
        if let Some(e) = failure {
            notices.send(DeviceNotice::Lost { kind: "camera", name: camera.name.clone(), fallback: None });
            tracing::warn!("{e}");
            lost = Some(camera.name);
            sleep_unless_stopped(stop, RETRY_EVERY);
        }
    }
}

fn find(backend: &dyn CameraBackend, wanted: Option<&str>) -> std::result::Result<CameraInfo, String> {
    let cameras = backend.list().map_err(|e| e.to_string())?;
    let chosen = match wanted {
        Some(w) => pick(&cameras, w).or(cameras.first()),
        None => cameras.first(),
    };
    chosen.cloned().ok_or_else(|| "no camera is connected; the call goes on without video".to_owned())
}

/// Grab into the slot until the camera fails (returns why) or the source stops (returns `None`).
fn grab_until_failure(mut device: Box<dyn CameraDevice>, slot: &Slot, stop: &AtomicBool) -> Option<DeviceError> {
    let failure = loop {
        if stop.load(Ordering::Relaxed) {
            break None;
        }
        match device.grab() {
            Ok(frame) => {
                slot.grabbed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut s) = slot.frame.lock()
                    && s.replace((frame, Instant::now())).is_some()
                {
                    slot.dropped.fetch_add(1, Ordering::Relaxed);
                }
                slot.ready.notify_one();
            }
            Err(e) => break Some(e),
        }
    };
    // A backend may panic while closing a device that is gone (nokhwa unwraps in Drop): contain it here.
    if std::panic::catch_unwind(AssertUnwindSafe(move || drop(device))).is_err() {
        tracing::warn!("the camera backend panicked while closing the device");
    }
    failure
}

fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl VideoSource for CameraSource {
    fn next_frame(&mut self) -> tincan_media::Result<VideoFrame> {
        let taken = {
            let lock_err = || MediaError::Device("camera slot poisoned".into());
            let mut s = self.slot.frame.lock().map_err(|_| lock_err())?;
            if s.is_none() {
                s = self.slot.ready.wait_timeout(s, NO_FRAME).map_err(|_| lock_err())?.0;
            }
            s.take()
        };
        let Some((raw, at)) = taken else {
            return Err(MediaError::Device(format!("camera \"{}\" delivers no frames", self.name())));
        };
        let frame = raw.to_i420(at.saturating_duration_since(self.started))?;
        self.delay = Some(at.elapsed());
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!("camera \"{}\"", self.name())
    }

    /// From the device's hand-off to the capture thread (nokhwa gives no earlier time) to I420.
    fn capture_delay(&self) -> Option<Duration> {
        self.delay
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
