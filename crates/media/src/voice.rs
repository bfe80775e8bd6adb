//! What a voice processor — the echo canceller, noise suppressor and gain control in front of the
//! microphone — reports about itself, and the trait a call reads it through. The processor belongs to the
//! devices (`tincan-devices`), the call's stats to the engine; this is the one type both speak, so a user's
//! "there's echo" can be read off the stats panel.

/// What the echo canceller reports about itself, and how it was fed.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ProcessingStats {
    /// Echo return loss enhancement the canceller estimates (dB).
    pub erle_db: Option<f64>,
    /// The echo path delay it found (ms).
    pub delay_ms: Option<i32>,
    /// The smallest and largest delay it found once settled (after the first 3 s), and how often the
    /// estimate moved by more than 4 ms between two looks (every 0.5 s).
    pub delay_min_ms: Option<i32>,
    pub delay_max_ms: Option<i32>,
    pub delay_moves: u64,
    /// Fraction of the last second its linear filter was divergent.
    pub divergent: Option<f64>,
    /// The most 10 ms far-end chunks it was given in a row without a microphone chunk between, and the
    /// reverse: how bunched its two inputs came.
    pub longest_far_run: u64,
    pub longest_near_run: u64,
    /// Far-end audio dropped because nobody took it in time (ms): no microphone, or its thread stalled.
    pub far_dropped_ms: f64,
}

/// Reads a voice processor's figures while a call runs (the engine samples it with the other stats).
pub trait VoiceMonitor: Send + Sync {
    fn stats(&self) -> ProcessingStats;
}
