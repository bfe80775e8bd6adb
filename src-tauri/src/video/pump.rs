//! Decoded frames to the window. The decoder thread drops each frame into a one-frame slot; a task sends
//! the newest one to the webview (I420 with an 8-byte header: width, height as little-endian u32) once the
//! UI says it drew the previous one. A slow UI therefore skips frames; nothing queues. While the window is
//! hidden nothing is sent at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tauri::ipc::{Channel, InvokeResponseBody};
use tincan_media::VideoFrame;
use tincan_media::source::VideoSink;
use tokio::sync::{Notify, Semaphore};

use super::stats::DisplayStats;
use crate::state::lock;

#[derive(Clone)]
pub struct FramePump {
    slot: Arc<Mutex<Option<VideoFrame>>>,
    ready: Arc<Notify>,
    shown: Arc<Semaphore>,
    stats: Arc<Mutex<DisplayStats>>,
}

impl FramePump {
    pub fn start(channel: Channel<InvokeResponseBody>, visible: Arc<AtomicBool>) -> FramePump {
        let pump = FramePump {
            slot: Arc::default(),
            ready: Arc::default(),
            shown: Arc::new(Semaphore::new(1)),
            stats: Arc::default(),
        };
        let p = pump.clone();
        tauri::async_runtime::spawn(async move {
            loop {
                // Wait for the UI to have drawn the last frame, then for a frame.
                let Ok(permit) = p.shown.acquire().await else { return };
                permit.forget();
                let frame = loop {
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
                let mut bytes = Vec::with_capacity(8 + frame.data().len());
                bytes.extend_from_slice(&frame.width.to_le_bytes());
                bytes.extend_from_slice(&frame.height.to_le_bytes());
                bytes.extend_from_slice(frame.data());
                lock(&p.stats).on_sent(&frame);
                if channel.send(InvokeResponseBody::Raw(bytes)).is_err() {
                    return;
                }
            }
        });
        pump
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
        lock(&self.stats).summary()
    }

    pub fn sink(&self) -> Box<dyn VideoSink> {
        let (slot, ready, stats) = (self.slot.clone(), self.ready.clone(), self.stats.clone());
        Box::new(move |frame: VideoFrame| {
            lock(&stats).decoded += 1;
            *lock(&slot) = Some(frame);
            ready.notify_one();
        })
    }
}
