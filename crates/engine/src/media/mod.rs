//! Media through the peer connection: sending (capture thread → encoder thread → RTP track) and
//! receiving (RTP → frame assembly and jitter buffering → decoder thread → sink).

pub mod assembler;
pub mod counters;
pub mod receive;
pub mod send;

pub use counters::MediaCounters;
