use serde::{Deserialize, Serialize};

/// Messages on the control channel (JSON text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlMessage {
    Chat {
        id: String,
        text: String,
        sent_at_ms: u64,
    },
    /// Receipt for a chat message.
    ChatReceived {
        id: String,
    },
    /// The sender's microphone and camera are on or off, and whether it shares its screen (absent from
    /// senders that cannot share: browsers' guest page).
    MediaState {
        audio: bool,
        video: bool,
        #[serde(default)]
        screen: bool,
    },
    /// The sender's tracks changed (a share started or stopped) and it asks the link's offerer for a new
    /// offer, with `receive_video` more video sections (an answerer cannot add sections itself).
    OfferWanted {
        receive_video: u8,
    },
    /// How long after capture the sender sends each stream (µs). Its RTCP sender reports tie RTP time to the
    /// moment of sending (webrtc-rs), so the receiver's lip sync takes these off. Sent when they change by
    /// more than 5 ms; browsers send none (their reports are tied to capture).
    SyncDelays {
        audio_us: u32,
        video_us: u32,
    },
    /// The sender hangs up.
    Bye,
}

/// The longest chat message accepted (characters).
pub const MAX_CHAT_CHARS: usize = 4000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let m = ControlMessage::MediaState { audio: false, video: true, screen: false };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"media_state","audio":false,"video":true,"screen":false}"#
        );
        // A sender that cannot share says nothing of it.
        let old = r#"{"type":"media_state","audio":true,"video":true}"#;
        assert_eq!(
            serde_json::from_str::<ControlMessage>(old).unwrap(),
            ControlMessage::MediaState { audio: true, video: true, screen: false }
        );
        assert!(serde_json::from_str::<ControlMessage>(r#"{"type":"teleport"}"#).is_err());
    }
}
