//! Where received media goes when several people are in a call. A front end for two gives one video sink
//! and one audio sink (`CallConfig::video_sink`, `audio_sink`); one that shows or measures people one by one
//! (group tiles, `tincan-cli`'s per-person summary) also gives [`ParticipantSinks`]. Everyone's audio is
//! mixed for the audio sink, so a speaker's echo canceller hears, as its far end, exactly what is played.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use tincan_media::AudioFrame;
use tincan_media::mix::MixerInput;
use tincan_media::source::{AudioSink, VideoSink};

/// Someone else in the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Their signaling peer id (it changes if they come back on a new connection).
    pub peer: String,
    /// The display name they gave, if any.
    pub name: Option<String>,
}

/// Per-participant sinks. Asked once per received track.
pub trait ParticipantSinks: Send {
    /// Where this participant's decoded video goes; `None`: to the call's `video_sink` if it is still free.
    fn video(&mut self, participant: &Participant) -> Option<Box<dyn VideoSink>>;
    /// A copy of this participant's decoded audio (levels, analysis); the audio sink gets the mix anyway.
    fn audio(&mut self, participant: &Participant) -> Option<Box<dyn AudioSink>>;
    /// Where this participant's screen share goes (a track of its own, beside their camera). Asked each
    /// time they start sharing. `None`: not shown.
    fn screen(&mut self, _participant: &Participant) -> Option<Box<dyn VideoSink>> {
        None
    }
}

/// One participant's audio: a copy to its own sink, if any, and into the mix; its level is measured.
pub(crate) struct ParticipantAudio {
    pub tap: Option<Box<dyn AudioSink>>,
    pub mix: Option<MixerInput>,
    pub level: Arc<Level>,
}

/// A participant's audio level: RMS in dBFS, smoothed (one-pole, about 200 ms for 20 ms frames).
#[derive(Debug)]
pub struct Level(AtomicU32);

impl Default for Level {
    fn default() -> Self {
        Level(AtomicU32::new(f32::NAN.to_bits()))
    }
}

/// The quietest level told (dBFS): digital silence.
const SILENCE_DBFS: f32 = -100.0;

impl Level {
    /// dBFS, or `None` before any audio.
    pub fn get(&self) -> Option<f64> {
        let v = f32::from_bits(self.0.load(Ordering::Relaxed));
        (!v.is_nan()).then_some(v as f64)
    }

    fn measure(&self, samples: &[i16]) {
        if samples.is_empty() {
            return;
        }
        let power = samples.iter().map(|s| (*s as f64 / 32768.0).powi(2)).sum::<f64>() / samples.len() as f64;
        let db = if power > 0.0 { (10.0 * power.log10()) as f32 } else { SILENCE_DBFS }.max(SILENCE_DBFS);
        let old = f32::from_bits(self.0.load(Ordering::Relaxed));
        let new = if old.is_nan() { db } else { old + 0.1 * (db - old) };
        self.0.store(new.to_bits(), Ordering::Relaxed);
    }
}

impl AudioSink for ParticipantAudio {
    fn on_frame(&mut self, frame: AudioFrame) {
        self.level.measure(&frame.samples);
        match (&mut self.tap, &mut self.mix) {
            (Some(tap), Some(mix)) => {
                tap.on_frame(frame.clone());
                mix.on_frame(frame);
            }
            (Some(tap), None) => tap.on_frame(frame),
            (None, Some(mix)) => mix.on_frame(frame),
            (None, None) => {}
        }
    }

    /// What lip sync needs: when the mix plays it.
    fn latency(&self) -> Option<Duration> {
        self.mix.as_ref().and_then(|m| m.latency())
    }

    fn set_minimum_delay(&mut self, delay: Duration) {
        if let Some(m) = &mut self.mix {
            m.set_minimum_delay(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_scale_tone_is_9_dbfs_and_silence_brings_it_down() {
        let level = Level::default();
        assert_eq!(level.get(), None);
        let tone: Vec<i16> = (0..960).map(|i| (16384.0 * (i as f64 * 0.0575).sin()) as i16).collect();
        for _ in 0..50 {
            level.measure(&tone);
        }
        let db = level.get().unwrap();
        assert!((db + 9.0).abs() < 0.5, "{db} dBFS");
        for _ in 0..50 {
            level.measure(&[0; 960]);
        }
        assert!(level.get().unwrap() < -90.0);
    }
}
