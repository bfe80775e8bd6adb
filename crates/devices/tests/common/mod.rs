//! Shared by the device tests (and, `frames`, the examples).
pub mod frames;
pub mod pulse;
