//! Tincan media: what moves through a call, independent of the network.
//!
//! * [`frame`] — I420 video frames and 48 kHz mono PCM audio frames.
//! * [`source`] — the source and sink traits that the camera, microphone and speaker (and the tests) implement.
//! * [`synthetic`] — a moving test pattern that carries a frame counter and capture time in its pixels, and
//!   tones/chirps, for tests, demos and the headless CLI.
//! * [`scale`] — shrinking frames to the size they are shown at.
//! * [`analysis`] — reading those back: the dominant frequency of received audio.
//! * [`voice`] — what the voice processor (echo canceller) reports, for the call's stats.

pub mod analysis;
pub mod codec;
mod error;
pub mod frame;
pub mod mix;
pub mod scale;
pub mod source;
pub mod synthetic;
pub mod voice;

pub use error::{MediaError, Result};
pub use frame::{AudioFrame, VideoFrame};
