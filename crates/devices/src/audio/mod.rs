//! Microphones and speakers.

mod format;
pub mod host;
mod keeper;
pub mod microphone;
pub mod playout;
pub mod priority;
pub mod processing;
pub mod resample;
pub mod speaker;
pub mod system_sound;
pub mod timing;

pub use host::{AudioDeviceInfo, Direction, list};
pub use microphone::{Microphone, MicrophoneMonitor, MicrophoneOptions, MicrophoneStats};
pub use processing::{Processing, ProcessingStats, VoiceProcessor};
pub use speaker::{Speaker, SpeakerMonitor, SpeakerOptions};
pub use system_sound::SystemSound;
pub use timing::TimingStats;
