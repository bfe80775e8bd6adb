//! The data channels of a call. Both are pre-negotiated (same SCTP stream id on both sides, no in-band
//! announcement), reliable and ordered:
//! * `control` (stream 0): chat, delivery receipts, mute state, goodbye — small JSON messages;
//! * `files` (stream 2): file offers, chunks and results, so a transfer never delays a chat message.

pub mod control;
pub mod files;

pub const CONTROL_STREAM: u16 = 0;
pub const FILES_STREAM: u16 = 2;
