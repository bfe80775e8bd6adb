use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ErrorCode;

/// A connection's id, given by the server in `welcome`; peers address each other's signals with it.
pub type PeerId = String;
/// The id of one ring (a call attempt to a personal code).
pub type CallId = String;

/// The most personal codes one connection may watch.
pub const MAX_WATCHED: usize = 256;

/// What a signal carries; the payload (`data`) is opaque to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    Offer,
    Answer,
    Candidate,
    EndOfCandidates,
    IceRestart,
}

/// A connection that a new one takes over (see `hello`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaces {
    pub peer_id: PeerId,
    pub token: String,
}

/// Messages a client sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message of every connection. `replaces`: this client's previous connection (its peer id and
    /// the `resume_token` its `welcome` carried), which the server closes first — after a network change
    /// the old one may look alive to the server for a minute, holding the client's place in its room.
    Hello {
        version: u32,
        client: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<Replaces>,
    },
    /// Enter a room. Without `create`, a room nobody is in is `room_not_found` (a mistyped code is caught
    /// instead of leaving the caller alone in an empty room). `capacity` only counts when the room is created.
    Join {
        room: String,
        #[serde(default)]
        create: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        capacity: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    Leave,
    /// Relay `data` to one peer (`to`) or to every other peer of the room (`to` absent).
    Signal {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<PeerId>,
        kind: SignalKind,
        data: Value,
    },
    /// Claim the personal code of `public_key` by signing the `welcome` nonce.
    Register {
        public_key: String,
        signature: String,
    },
    Unregister,
    /// Ring a personal code, inviting it to `room`.
    Ring {
        to: String,
        name: String,
        room: String,
        /// With `signature`: proves the caller's personal code (as in `register`, over this connection's
        /// nonce) without registering it, so the callee sees `from_code` while the caller's presence stays
        /// where it is (e.g. the app's background connection).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    Accept {
        call: CallId,
    },
    Decline {
        call: CallId,
        /// Why, if the caller should hear more than "declined": `unavailable` (do not disturb) gives the
        /// caller the same answer as for a code nobody holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<DeclineReason>,
    },
    CancelRing {
        call: CallId,
    },
    /// Follow whether these personal codes are online (replaces the previous list; at most
    /// [`MAX_WATCHED`] codes). The server answers with a `presence` for each, then one per change.
    Watch {
        codes: Vec<String>,
    },
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
}

impl ClientMessage {
    /// Every `type` a client may send (for telling `unknown_type` from `bad_message`).
    pub const TYPES: [&'static str; 12] = [
        "hello",
        "join",
        "leave",
        "signal",
        "register",
        "unregister",
        "ring",
        "accept",
        "decline",
        "cancel_ring",
        "ping",
        "watch",
    ];

    /// The wire `type` of this message.
    pub fn type_name(&self) -> &'static str {
        let i = match self {
            Self::Hello { .. } => 0,
            Self::Join { .. } => 1,
            Self::Leave => 2,
            Self::Signal { .. } => 3,
            Self::Register { .. } => 4,
            Self::Unregister => 5,
            Self::Ring { .. } => 6,
            Self::Accept { .. } => 7,
            Self::Decline { .. } => 8,
            Self::CancelRing { .. } => 9,
            Self::Ping { .. } => 10,
            Self::Watch { .. } => 11,
        };
        Self::TYPES[i]
    }
}

/// A STUN or TURN server, in the shape of WebRTC's `RTCIceServer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Limits the server enforces, so clients can respect them up front.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub room_capacity: usize,
    pub max_room_capacity: usize,
    pub heartbeat_secs: u64,
    pub ring_timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub id: PeerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnregisterReason {
    /// The client asked.
    Requested,
    /// Another connection proved the same key (the app started elsewhere, or reconnected).
    Replaced,
}

/// Why a callee declines, when it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// Not taking calls now (do not disturb): the caller gets `unavailable`, as for a code nobody holds.
    Unavailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingEndReason {
    /// The caller hung up before an answer.
    Cancelled,
    /// Nobody answered in time.
    Missed,
}

/// Messages the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to `hello`.
    Welcome {
        version: u32,
        server: String,
        peer_id: PeerId,
        /// Sign this to `register` (see `identity`).
        nonce: String,
        ice_servers: Vec<IceServer>,
        limits: Limits,
        /// Proves this connection's identity to a later `hello` that `replaces` it.
        #[serde(default)]
        resume_token: String,
    },
    Joined {
        room: String,
        peer_id: PeerId,
        peers: Vec<PeerInfo>,
        capacity: usize,
        /// TURN servers with credentials minted for this connection (only a connection in a room gets them).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
    },
    /// Fresh TURN credentials for a connection in a room, sent every half of their lifetime: a connection
    /// opened or restarted late in a long call must not present expired ones.
    Relay {
        ice_servers: Vec<IceServer>,
    },
    PeerJoined {
        room: String,
        peer: PeerInfo,
        /// The connection this one took over (`hello` with `replaces`, token checked): the same participant,
        /// back after a network change. Sent on every room this connection joins; peers that did not know the
        /// old id ignore it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<PeerId>,
    },
    PeerLeft {
        room: String,
        peer_id: PeerId,
    },
    Left {
        room: String,
    },
    Signal {
        room: String,
        from: PeerId,
        kind: SignalKind,
        data: Value,
    },
    Registered {
        code: String,
    },
    Unregistered {
        code: String,
        reason: UnregisterReason,
    },
    /// To the caller: the callee was told.
    Ringing {
        call: CallId,
        to: String,
    },
    /// To the callee.
    Incoming {
        call: CallId,
        from_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_code: Option<String>,
        room: String,
    },
    Accepted {
        call: CallId,
        room: String,
    },
    Declined {
        call: CallId,
    },
    /// Nobody holds that personal code right now.
    Unavailable {
        call: CallId,
        to: String,
    },
    /// To the caller: no answer before the ring timeout.
    Missed {
        call: CallId,
    },
    /// To the callee: the ring is over without an answer.
    RingEnded {
        call: CallId,
        reason: RingEndReason,
    },
    /// A watched personal code came online or went offline (and, after `watch`, where each stands now).
    Presence {
        code: String,
        online: bool,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// The `type` of the message that caused it, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
    },
}

impl ServerMessage {
    pub fn error(code: ErrorCode, detail: Option<&str>, request: Option<&str>) -> Self {
        let message = match detail {
            Some(d) => format!("{} {}", code.sentence(), as_sentence(d)),
            None => code.sentence().to_owned(),
        };
        ServerMessage::Error { code, message, request: request.map(str::to_owned) }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// `the code has 8 characters` → `The code has 8 characters.`
fn as_sentence(detail: &str) -> String {
    let mut chars = detail.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut s: String = first.to_uppercase().chain(chars).collect();
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

impl ClientMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialize")
    }
}
