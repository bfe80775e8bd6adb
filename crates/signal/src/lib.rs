//! Tincan signaling.
//!
//! * [`protocol`] — the JSON messages spoken over the WebSocket at `/ws` (shared by server, client, app, tests).
//! * [`code`] — room codes and personal codes: generation, normalisation of what people type.
//! * [`identity`] — the Ed25519 identity behind a personal code, and the registration proof.
//! * [`server`] — the self-hostable server (`tincan-signal`).
//! * [`client`] — an async client that reconnects, re-registers and re-joins by itself.

pub mod client;
pub mod code;
mod error;
pub mod identity;
pub mod protocol;
pub mod server;

pub use error::{Error, Result};
