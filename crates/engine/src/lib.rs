//! The Tincan call engine: everything a call does, with no window. The desktop app, `tincan-cli` and the
//! tests are front ends of it.
//!
//! * [`call`] — [`Call`](call::Call), the handle; the call state machine; the driver that runs a call.
//! * [`peer`] — building the webrtc-rs peer connection.
//! * [`media`] — sending and receiving audio and video through it.
//! * [`data`] — chat and file transfer on data channels.
//! * [`phone`] — the call manager: presence, the current call, rings, busy and do-not-disturb.
//! * [`presence`] — the signaling connection that keeps the personal code reachable between calls.
//! * [`stats`], [`sas`] — the once-a-second stats and the verification digits.

pub mod call;
pub mod data;
mod error;
pub mod events;
pub mod media;
pub mod peer;
pub mod phone;
pub mod presence;
pub mod sas;
pub mod stats;
pub mod tls;

pub use call::{
    Call, CallConfig, CallState, EndReason, GROUP_CAPACITY, Participant, ParticipantSinks, SHARE_FPS, Shared, Target,
};
pub use data::files::FilePolicy;
pub use error::{EngineError, Result};
pub use events::{EngineEvent, FileEvent};
