//! The signaling protocol: JSON text frames over a WebSocket at `/ws`, each an object with a `type` field.
//! `docs/signaling.md` describes it with an example exchange.

mod error_code;
mod message;
pub mod name;
mod parse;

pub use error_code::ErrorCode;
pub use message::*;
pub use parse::{ParseError, parse_client_message};

/// The protocol version this crate speaks. A `hello` with another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;
