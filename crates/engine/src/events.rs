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
    /// A participant started (`sharing`) or stopped sharing their screen; empty `peer`: our own share
    /// (`what` says what is shared, and ends in "with sound" when the computer's sound goes with it).
    Share {
        sharing: bool,
        #[serde(skip_serializing_if = "String::is_empty")]
        peer: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        what: Option<String>,
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
    /// Every kind of event, as its `event` field names it (the app's UI contract lists them).
    pub const KINDS: [&'static str; 14] = [
        "state",
        "participant_joined",
        "participant_left",
        "invite",
        "data_ready",
        "verification",
        "remote_media",
        "chat",
        "chat_delivered",
        "file",
        "sources",
        "stats",
        "notice",
        "share",
    ];

    /// This event's kind: its `event` field.
    pub fn kind(&self) -> &'static str {
        let i = match self {
            EngineEvent::State { .. } => 0,
            EngineEvent::ParticipantJoined { .. } => 1,
            EngineEvent::ParticipantLeft { .. } => 2,
            EngineEvent::Invite { .. } => 3,
            EngineEvent::DataReady { .. } => 4,
            EngineEvent::Verification { .. } => 5,
            EngineEvent::RemoteMedia { .. } => 6,
            EngineEvent::Chat { .. } => 7,
            EngineEvent::ChatDelivered { .. } => 8,
            EngineEvent::File(_) => 9,
            EngineEvent::Sources { .. } => 10,
            EngineEvent::Stats(_) => 11,
            EngineEvent::Notice { .. } => 12,
            EngineEvent::Share { .. } => 13,
        };
        Self::KINDS[i]
    }

    pub fn state(value: CallState) -> Self {
        let reason = match &value {
            CallState::Ended(r) => Some(r.code().to_owned()),
            _ => None,
        };
        EngineEvent::State { state: value.name().to_owned(), reason, value }
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

impl FileEvent {
    /// Every kind of file event, as its `file` field names it (the app's UI contract lists them).
    pub const KINDS: [&'static str; 7] =
        ["offered", "declined", "started", "progress", "completed", "cancelled", "failed"];

    /// This event's kind: its `file` field.
    pub fn kind(&self) -> &'static str {
        let i = match self {
            FileEvent::Offered { .. } => 0,
            FileEvent::Declined { .. } => 1,
            FileEvent::Started { .. } => 2,
            FileEvent::Progress { .. } => 3,
            FileEvent::Completed { .. } => 4,
            FileEvent::Cancelled { .. } => 5,
            FileEvent::Failed { .. } => 6,
        };
        Self::KINDS[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kind()` is what serde writes, for every variant, and the lists hold each kind once.
    #[test]
    fn the_kinds_are_the_serialized_names() {
        let files = [
            FileEvent::Offered { id: 1, name: "a".into(), size: 1, peer: "p".into() },
            FileEvent::Declined { id: 1, reason: "declined".into(), peer: "p".into() },
            FileEvent::Started { id: 1, name: "a".into(), size: 1, outgoing: true },
            FileEvent::Progress { id: 1, outgoing: true, bytes: 1, total: 2 },
            FileEvent::Completed { id: 1, outgoing: false, path: None, sha256: "x".into() },
            FileEvent::Cancelled { id: 1, outgoing: true, by_peer: true },
            FileEvent::Failed { id: 1, outgoing: true, reason: "x".into() },
        ];
        for f in &files {
            assert_eq!(serde_json::to_value(f).unwrap()["file"], f.kind());
        }
        let kinds: Vec<_> = files.iter().map(FileEvent::kind).collect();
        assert_eq!(kinds, FileEvent::KINDS);

        let events = [
            EngineEvent::state(CallState::Connected),
            EngineEvent::ParticipantJoined { peer: "p".into(), name: None, replaces: None },
            EngineEvent::ParticipantLeft { peer: "p".into(), name: None, reason: "left".into() },
            EngineEvent::Invite { code: "c".into(), outcome: "ringing".into() },
            EngineEvent::DataReady { peer: "p".into() },
            EngineEvent::Verification { sas: "123456".into(), peer: String::new() },
            EngineEvent::RemoteMedia { audio: true, video: false, peer: String::new() },
            EngineEvent::Chat { id: "1".into(), text: "hi".into(), outgoing: true, sent_at_ms: 0, peer: String::new() },
            EngineEvent::ChatDelivered { id: "1".into() },
            EngineEvent::File(files[0].clone()),
            EngineEvent::Sources { camera: true, microphone: false },
            EngineEvent::Stats(Box::default()),
            EngineEvent::Notice { message: "m".into() },
            EngineEvent::Share { sharing: true, peer: "p".into(), what: None },
        ];
        for e in &events {
            assert_eq!(serde_json::to_value(e).unwrap()["event"], e.kind());
        }
        let kinds: Vec<_> = events.iter().map(EngineEvent::kind).collect();
        assert_eq!(kinds, EngineEvent::KINDS);
    }
}
