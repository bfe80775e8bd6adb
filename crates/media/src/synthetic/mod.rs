//! Synthetic media for tests, demos and the headless CLI.

mod clock;
mod pattern;
mod tone;

pub use clock::FrameClock;
pub use pattern::{STAMP_COLS, STAMP_ROWS, Stamp, TestPattern, read_stamp, stamp_cells, wall_clock_us};
pub use tone::{ToneSource, Waveform};
