//! A video encoder on a thread of its own. Frames are handed over through a one-frame slot: if the encoder
//! is still busy when the next frame arrives, the waiting one is replaced (the newest frame wins, nothing
//! queues without bound). Keyframe requests and bitrate changes arrive through [`EncoderControl`] from any
//! thread — the RTCP reader (PLI) and the bandwidth estimator.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::{EncodedVideo, VideoEncoder};
use crate::VideoFrame;

#[derive(Default)]
pub struct EncoderControl {
    keyframe: AtomicBool,
    bitrate_bps: AtomicU32,
    /// Frames replaced in the slot before the encoder took them.
    pub dropped: AtomicU64,
    /// Frames encoded.
    pub encoded: AtomicU64,
    /// Keyframes produced.
    pub keyframes: AtomicU64,
}

impl EncoderControl {
    /// The next frame will be a keyframe.
    pub fn request_keyframe(&self) {
        self.keyframe.store(true, Ordering::Release);
    }

    pub fn set_bitrate(&self, bps: u32) {
        self.bitrate_bps.store(bps, Ordering::Release);
    }

    pub fn bitrate(&self) -> u32 {
        self.bitrate_bps.load(Ordering::Acquire)
    }
}

#[derive(Default)]
struct Slot {
    frame: Option<VideoFrame>,
    closed: bool,
}

pub struct EncoderThread {
    slot: Arc<(Mutex<Slot>, Condvar)>,
    control: Arc<EncoderControl>,
    handle: Option<JoinHandle<()>>,
}

impl EncoderThread {
    /// Start encoding with `initial_bitrate`; every encoded frame goes to `output` (on the encoder thread).
    pub fn spawn(
        mut encoder: Box<dyn VideoEncoder>,
        initial_bitrate: u32,
        mut output: impl FnMut(EncodedVideo) + Send + 'static,
    ) -> Self {
        let slot: Arc<(Mutex<Slot>, Condvar)> = Arc::default();
        let control = Arc::new(EncoderControl::default());
        control.set_bitrate(initial_bitrate);
        let (thread_slot, thread_control) = (slot.clone(), control.clone());
        let name = format!("{}-encoder", encoder.codec().name().to_lowercase());
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let mut bitrate = initial_bitrate;
                loop {
                    let frame = {
                        let (lock, ready) = &*thread_slot;
                        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                        loop {
                            if let Some(f) = s.frame.take() {
                                break f;
                            }
                            if s.closed {
                                return;
                            }
                            s = ready.wait(s).unwrap_or_else(|p| p.into_inner());
                        }
                    };
                    let wanted = thread_control.bitrate();
                    if wanted != bitrate {
                        match encoder.set_bitrate(wanted) {
                            Ok(()) => bitrate = wanted,
                            Err(e) => tracing::warn!("{e}"),
                        }
                    }
                    let keyframe = thread_control.keyframe.swap(false, Ordering::AcqRel);
                    match encoder.encode(&frame, keyframe) {
                        Ok(Some(encoded)) => {
                            thread_control.encoded.fetch_add(1, Ordering::Relaxed);
                            if encoded.keyframe {
                                thread_control.keyframes.fetch_add(1, Ordering::Relaxed);
                            }
                            output(encoded);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!("{e}");
                            thread_control.request_keyframe();
                        }
                    }
                }
            })
            .expect("spawning a thread");
        EncoderThread { slot, control, handle: Some(handle) }
    }

    /// Hand over a frame; a frame still waiting is replaced and counted as dropped.
    pub fn submit(&self, frame: VideoFrame) {
        let (lock, ready) = &*self.slot;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        if s.frame.replace(frame).is_some() {
            self.control.dropped.fetch_add(1, Ordering::Relaxed);
        }
        ready.notify_one();
    }

    pub fn control(&self) -> Arc<EncoderControl> {
        self.control.clone()
    }

    /// Finish the frame in hand and stop.
    pub fn stop(mut self) {
        self.close();
    }

    fn close(&mut self) {
        {
            let (lock, ready) = &*self.slot;
            lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
            ready.notify_one();
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for EncoderThread {
    fn drop(&mut self) {
        self.close();
    }
}
