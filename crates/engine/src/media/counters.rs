use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use super::sync::SyncState;

/// Media figures of one call that webrtc-rs's stats do not carry (it never fills frame counters).
#[derive(Default, Debug)]
pub struct MediaCounters {
    pub video_frames_sent: AtomicU64,
    pub video_keyframes_sent: AtomicU64,
    pub video_frames_decoded: AtomicU64,
    pub video_frames_lost: AtomicU64,
    pub video_decode_errors: AtomicU64,
    pub keyframe_requests_sent: AtomicU64,
    pub keyframe_requests_received: AtomicU64,
    pub audio_frames_sent: AtomicU64,
    pub audio_frames_decoded: AtomicU64,
    pub audio_frames_concealed: AtomicU64,
    pub width_out: AtomicU32,
    pub height_out: AtomicU32,
    pub width_in: AtomicU32,
    pub height_in: AtomicU32,
    pub target_bitrate: AtomicU32,
    /// Lip sync: the latest video frame's hold, the extra audio delay, how late video is (µs), and whether
    /// it is working.
    pub sync_video_hold_us: AtomicU32,
    pub sync_audio_delay_us: AtomicU32,
    pub sync_video_late_us: AtomicI32,
    pub sync_active: AtomicBool,
}

impl MediaCounters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_sync(&self, state: SyncState) {
        self.sync_video_hold_us.store((state.video_hold_ms * 1000.0) as u32, Ordering::Relaxed);
        self.sync_audio_delay_us.store((state.audio_delay_ms * 1000.0) as u32, Ordering::Relaxed);
        self.sync_video_late_us.store((state.video_late_ms * 1000.0) as i32, Ordering::Relaxed);
        self.sync_active.store(state.active, Ordering::Relaxed);
    }
}
