//! What the engine tells its front end (the CLI prints these as JSON lines, the app forwards them to the UI).

use std::path::PathBuf;

use serde::Serialize;

use crate::call::CallState;
use crate::stats::StatsSnapshot;

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EngineEvent {
    /// The call's state changed.
    State {
        state: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(skip)]
        value: CallState,
    },
    /// Someone is in the call with us (a link to them is being set up). `name`: the display name they gave.
    /// `replaces`: they were in the call already, known by this peer id (they came back on a new signaling
    /// connection; the media goes on).
    ParticipantJoined {
        peer: String,
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
    },
    /// Someone left a group call (the call goes on); `reason` as in an ended call's.
    ParticipantLeft {
        peer: String,
        name: Option<String>,
        reason: String,
    },
    /// A contact we rang into this call (`Call::invite`): `outcome` is `ringing`, `accepted` (they are on their
    /// way in), `declined`, `missed` or `unavailable` (not online).
    Invite {
        code: String,
        outcome: String,
    },
    /// A participant's data channel is open: chat and files can go.
    DataReady {
        #[serde(skip_serializing_if = "String::is_empty")]
        peer: String,
    },
    /// Both sides of a link show these digits if nobody sits in the middle.
    Verification {
        sas: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        peer: String,
    },
    /// A participant's microphone/camera.
    RemoteMedia {
        audio: bool,
        video: bool,
        #[serde(skip_serializing_if = "String::is_empty")]
        peer: String,
    },
    /// A chat message; `peer`: who sent it (empty for ours).
    Chat {
        id: String,
        text: String,
        outgoing: bool,
        sent_at_ms: u64,
        #[serde(skip_serializing_if = "String::is_empty")]
        peer: String,
    },
    ChatDelivered {
        id: String,
    },
    File(FileEvent),
    /// Whether our camera and microphone deliver (false: none connected, unplugged, or taken by another
    /// program); sent when either changes. The other side sees "camera off" / "muted" meanwhile.
    Sources {
        camera: bool,
        microphone: bool,
    },
    Stats(Box<StatsSnapshot>),
    /// Something the user should know that does not end the call.
    Notice {
        message: String,
    },
}

impl EngineEvent {
    pub fn state(value: CallState) -> Self {
        let (state, reason) = match &value {
            CallState::Idle => ("idle", None),
            CallState::Ringing => ("ringing_out", None),
            CallState::Joining => ("joining", None),
            CallState::Waiting => ("waiting", None),
            CallState::Connecting => ("connecting", None),
            CallState::Connected => ("connected", None),
            CallState::Reconnecting => ("reconnecting", None),
            CallState::Ended(r) => ("ended", Some(r.code().to_owned())),
        };
        EngineEvent::State { state: state.to_owned(), reason, value }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "file", rename_all = "snake_case")]
pub enum FileEvent {
    /// Someone offers a file; nothing is written until the front end accepts it (`Call::accept_file`) or
    /// declines it (`Call::decline_file`), within two minutes.
    Offered {
        id: u64,
        name: String,
        size: u64,
        /// Who offers it (answers name them: transfer ids are per sender).
        peer: String,
    },
    /// An offer this side did not take (declined, too large, too many at once, no space, not answered).
    Declined {
        id: u64,
        reason: String,
        peer: String,
    },
    Started {
        id: u64,
        name: String,
        size: u64,
        outgoing: bool,
    },
    Progress {
        id: u64,
        outgoing: bool,
        bytes: u64,
        total: u64,
    },
    /// Verified: the receiver's SHA-256 matches the sender's. `path` is where an incoming file was saved.
    Completed {
        id: u64,
        outgoing: bool,
        path: Option<PathBuf>,
        sha256: String,
    },
    Cancelled {
        id: u64,
        outgoing: bool,
        by_peer: bool,
    },
    Failed {
        id: u64,
        outgoing: bool,
        reason: String,
    },
}
