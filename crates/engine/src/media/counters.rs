use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

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
}

impl MediaCounters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
