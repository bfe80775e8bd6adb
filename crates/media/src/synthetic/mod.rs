//! Synthetic media for tests, demos and the headless CLI.

mod clock;
mod pattern;
mod tone;

pub use clock::FrameClock;
pub use pattern::{Stamp, TestPattern, read_stamp, wall_clock_us};
pub use tone::{ToneSource, Waveform};
