//! Media through the peer connection: sending (capture thread → encoder thread → RTP track) and
//! receiving (RTP → frame assembly and jitter buffering → decoder thread → presenter (lip sync) → sink).

pub mod assembler;
pub mod counters;
pub mod presenter;
pub mod receive;
pub mod send;
pub mod sync;

pub use counters::MediaCounters;
