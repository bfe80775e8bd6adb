use serde::{Deserialize, Serialize};

/// Stable machine-readable error codes of the `error` message. Never renumber or rename: clients match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON.
    BadJson,
    /// JSON, but not a message of a known shape (missing or wrongly typed fields).
    BadMessage,
    /// The `type` is not one this server knows.
    UnknownType,
    /// The frame is larger than the server's `max_message_bytes`.
    TooLarge,
    /// Binary frames carry nothing in this protocol.
    BinaryUnsupported,
    /// The `hello` asked for a protocol version this server does not speak.
    UnsupportedVersion,
    /// Anything but `hello` (or `ping`) before `hello`.
    HelloRequired,
    /// A message that makes no sense in the connection's current state (e.g. a second `hello`).
    WrongState,
    /// The room code is malformed.
    BadRoomCode,
    /// `join` without `create` for a room nobody is in.
    RoomNotFound,
    RoomFull,
    AlreadyInRoom,
    NotInRoom,
    /// `signal` to a peer id that is not in the room.
    UnknownPeer,
    /// The personal code is malformed.
    BadPersonalCode,
    /// The registration's key or signature does not verify.
    BadSignature,
    NotRegistered,
    /// `accept`/`decline`/`cancel_ring` for a call that is not ringing (any more) for this connection.
    UnknownCall,
    /// A display name that is empty or too long.
    BadName,
    RateLimited,
    /// The connection's outgoing queue overflowed: it was not reading.
    SlowConsumer,
    /// The heartbeat went unanswered.
    IdleTimeout,
    ShuttingDown,
    /// A newer connection of the same client took over (`hello` with `replaces`).
    Replaced,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 25] = [
        Self::BadJson,
        Self::BadMessage,
        Self::UnknownType,
        Self::TooLarge,
        Self::BinaryUnsupported,
        Self::UnsupportedVersion,
        Self::HelloRequired,
        Self::WrongState,
        Self::BadRoomCode,
        Self::RoomNotFound,
        Self::RoomFull,
        Self::AlreadyInRoom,
        Self::NotInRoom,
        Self::UnknownPeer,
        Self::BadPersonalCode,
        Self::BadSignature,
        Self::NotRegistered,
        Self::UnknownCall,
        Self::BadName,
        Self::RateLimited,
        Self::SlowConsumer,
        Self::IdleTimeout,
        Self::ShuttingDown,
        Self::Replaced,
        Self::Internal,
    ];

    /// The wire name, e.g. `room_full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "bad_json",
            Self::BadMessage => "bad_message",
            Self::UnknownType => "unknown_type",
            Self::TooLarge => "too_large",
            Self::BinaryUnsupported => "binary_unsupported",
            Self::UnsupportedVersion => "unsupported_version",
            Self::HelloRequired => "hello_required",
            Self::WrongState => "wrong_state",
            Self::BadRoomCode => "bad_room_code",
            Self::RoomNotFound => "room_not_found",
            Self::RoomFull => "room_full",
            Self::AlreadyInRoom => "already_in_room",
            Self::NotInRoom => "not_in_room",
            Self::UnknownPeer => "unknown_peer",
            Self::BadPersonalCode => "bad_personal_code",
            Self::BadSignature => "bad_signature",
            Self::NotRegistered => "not_registered",
            Self::UnknownCall => "unknown_call",
            Self::BadName => "bad_name",
            Self::RateLimited => "rate_limited",
            Self::SlowConsumer => "slow_consumer",
            Self::IdleTimeout => "idle_timeout",
            Self::ShuttingDown => "shutting_down",
            Self::Replaced => "replaced",
            Self::Internal => "internal",
        }
    }

    /// A sentence a person can read; the server may add detail in the message it sends.
    pub fn sentence(self) -> &'static str {
        match self {
            Self::BadJson => "That message is not valid JSON.",
            Self::BadMessage => "That message is missing fields or has fields of the wrong kind.",
            Self::UnknownType => "This server does not know that message type.",
            Self::TooLarge => "That message is larger than this server accepts.",
            Self::BinaryUnsupported => "Binary messages are not part of the protocol; send JSON text.",
            Self::UnsupportedVersion => "This server speaks another protocol version; update the app.",
            Self::HelloRequired => "Say hello first.",
            Self::WrongState => "That message does not fit the connection's state.",
            Self::BadRoomCode => "That is not a valid room code.",
            Self::RoomNotFound => "Nobody is in that room; check the code.",
            Self::RoomFull => "That room is full.",
            Self::AlreadyInRoom => "Leave the current room before joining another.",
            Self::NotInRoom => "Join a room first.",
            Self::UnknownPeer => "That peer is not in the room.",
            Self::BadPersonalCode => "That is not a valid personal code.",
            Self::BadSignature => "The registration proof does not verify.",
            Self::NotRegistered => "This connection has not registered a personal code.",
            Self::UnknownCall => "That call is not ringing.",
            Self::BadName => "The display name must have 1 to 64 visible characters.",
            Self::RateLimited => "Too many requests; slow down and try again shortly.",
            Self::SlowConsumer => "The connection was not reading its messages and was closed.",
            Self::IdleTimeout => "The connection stopped answering heartbeats and was closed.",
            Self::ShuttingDown => "The server is shutting down; reconnect shortly.",
            Self::Replaced => "A newer connection of this client took over; this one is closed.",
            Self::Internal => "The server failed; please try again.",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::String(code.as_str().into()));
            assert!(code.sentence().ends_with('.'));
        }
    }
}
