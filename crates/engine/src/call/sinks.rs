//! Where received media goes when several people are in a call. A front end for two gives one video sink
//! and one audio sink (`CallConfig::video_sink`, `audio_sink`); one that shows or measures people one by one
//! (group tiles, `tincan-cli`'s per-person summary) also gives [`ParticipantSinks`]. Everyone's audio is
//! mixed for the audio sink, so a speaker's echo canceller hears, as its far end, exactly what is played.

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
}

/// One participant's audio: a copy to its own sink, if any, and into the mix.
pub(crate) struct ParticipantAudio {
    pub tap: Option<Box<dyn AudioSink>>,
    pub mix: Option<MixerInput>,
}

impl AudioSink for ParticipantAudio {
    fn on_frame(&mut self, frame: AudioFrame) {
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
