//! Decoded frames to the window. The decoder thread drops each frame into a one-frame slot; a task sends
//! the newest one to the webview once the UI says it drew the previous one: a header (width, height and the
//! tag's length as little-endian u32, then the tag: whose video it is, UTF-8, empty for the preview), then
//! the I420 planes. A slow UI therefore skips frames; nothing queues. While the window is
//! hidden nothing is sent at all. Frames larger than the canvas shows them are shrunk first (the UI reports
//! its size), and a pump may be capped in rate (the small local preview needs no 30 fps).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tauri::ipc::{Channel, InvokeResponseBody};
use tincan_media::VideoFrame;
use tincan_media::scale::Scaler;
use tincan_media::source::VideoSink;
use tokio::sync::{Notify, Semaphore};

use super::stats::DisplayStats;
use crate::state::lock;

#[derive(Clone)]
pub struct FramePump {
    /// The newest frame, with when the decoder handed it over.
    slot: Arc<Mutex<Option<(VideoFrame, Instant)>>>,
    ready: Arc<Notify>,
    shown: Arc<Semaphore>,
    stats: Arc<Mutex<DisplayStats>>,
    /// The largest frame worth sending: the canvas's size in device pixels.
    max_size: Arc<Mutex<(u32, u32)>>,
    /// Whose video this is (a participant's peer id; it changes when they come back on a new connection).
    tag: Arc<Mutex<String>>,
}

impl FramePump {
    /// `max_size` until the UI says otherwise; at most one frame per `min_interval`; frames carry `tag`.
    pub fn start(
        channel: Channel<InvokeResponseBody>,
        visible: Arc<AtomicBool>,
        max_size: (u32, u32),
        min_interval: Duration,
        tag: &str,
    ) -> FramePump {
        let pump = FramePump {
            slot: Arc::default(),
            ready: Arc::default(),
            shown: Arc::new(Semaphore::new(1)),
            stats: Arc::default(),
            max_size: Arc::new(Mutex::new(max_size)),
            tag: Arc::new(Mutex::new(tag.to_owned())),
        };
        let p = pump.clone();
        tauri::async_runtime::spawn(async move {
            let mut scaler = Scaler::default();
            let mut last_sent: Option<Instant> = None;
            loop {
                // Wait for the UI to have drawn the last frame, then for a frame.
                let Ok(permit) = p.shown.acquire().await else { return };
                permit.forget();
                let (frame, handed) = loop {
                    if p.shown.is_closed() {
                        return;
                    }
                    if let Some(f) = lock(&p.slot).take() {
                        break f;
                    }
                    p.ready.notified().await;
                };
                if !visible.load(Ordering::Relaxed) {
                    // Hidden: drop it, keep the permit for the next one.
                    lock(&p.stats).hidden += 1;
                    p.shown.add_permits(1);
                    continue;
                }
                if last_sent.is_some_and(|t| t.elapsed() < min_interval) {
                    p.shown.add_permits(1);
                    continue;
                }
                last_sent = Some(Instant::now());
                lock(&p.stats).on_sent(&frame, handed);
                let (max_w, max_h) = *lock(&p.max_size);
                let frame = match scaler.fit(&frame, max_w, max_h) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!("cannot shrink a frame for the window: {e}");
                        frame
                    }
                };
                let bytes = encode(&frame, &lock(&p.tag));
                if channel.send(InvokeResponseBody::Raw(bytes)).is_err() {
                    return;
                }
            }
        });
        pump
    }

    /// The canvas now shows `width`×`height` device pixels.
    pub fn set_max_size(&self, width: u32, height: u32) {
        *lock(&self.max_size) = (width.clamp(16, 7680), height.clamp(16, 4320));
    }

    /// Frames from now on carry `tag`.
    pub fn retag(&self, tag: &str) {
        *lock(&self.tag) = tag.to_owned();
    }

    /// The UI drew a frame: the next one may go.
    pub fn shown(&self) {
        lock(&self.stats).on_drawn();
        if self.shown.available_permits() == 0 {
            self.shown.add_permits(1);
        }
    }

    /// Stop sending; returns the display path's figures.
    pub fn stop(&self) -> String {
        self.shown.close();
        // Wake the task if it waits for a frame: it sees the pump closed and ends.
        self.ready.notify_one();
        lock(&self.stats).summary()
    }

    pub fn sink(&self) -> Box<dyn VideoSink> {
        Box::new(PumpSink { slot: self.slot.clone(), ready: self.ready.clone(), stats: self.stats.clone() })
    }
}

/// A frame as the webview reads it (see the module's comment).
fn encode(frame: &VideoFrame, tag: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(12 + tag.len() + frame.data().len());
    bytes.extend_from_slice(&frame.width.to_le_bytes());
    bytes.extend_from_slice(&frame.height.to_le_bytes());
    bytes.extend_from_slice(&(tag.len() as u32).to_le_bytes());
    bytes.extend_from_slice(tag.as_bytes());
    bytes.extend_from_slice(frame.data());
    bytes
}

/// The decoder's side of a pump. Its latency — handed over to drawn, as measured lately — lets lip sync
/// hand frames over that much ahead, so they are seen with their audio.
struct PumpSink {
    slot: Arc<Mutex<Option<(VideoFrame, Instant)>>>,
    ready: Arc<Notify>,
    stats: Arc<Mutex<DisplayStats>>,
}

impl VideoSink for PumpSink {
    fn on_frame(&mut self, frame: VideoFrame) {
        lock(&self.stats).decoded += 1;
        *lock(&self.slot) = Some((frame, Instant::now()));
        self.ready.notify_one();
    }

    fn latency(&self) -> Option<Duration> {
        lock(&self.stats).display_latency()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tincan_media::VideoFrame;

    #[test]
    fn a_frame_carries_its_size_and_whose_it_is() {
        let frame = VideoFrame::from_i420(4, 2, Duration::ZERO, vec![7u8; 12]).unwrap();
        let bytes = super::encode(&frame, "51d0aa7c");
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        assert_eq!((u32_at(0), u32_at(4), u32_at(8)), (4, 2, 8));
        assert_eq!(&bytes[12..20], b"51d0aa7c");
        assert_eq!(&bytes[20..], frame.data());
        assert_eq!(super::encode(&frame, "").len(), 12 + 4 * 2 * 3 / 2);
    }
}
