//! What two participants say to each other through the signaling server, typed. On the wire it is the
//! server's `signal` message: a `kind` and a JSON `data` the server relays without reading. Browsers on the
//! guest page speak the same shapes (an RTCSessionDescriptionInit, an RTCIceCandidateInit).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tincan_signal::protocol::SignalKind;
use webrtc::peer_connection::RTCIceCandidateInit;

use crate::{EngineError, Result};

/// One negotiation message between two participants.
#[derive(Clone, Debug, PartialEq)]
pub enum PeerSignal {
    /// `restart`: an ICE restart of a connection that was up (kind `ice_restart`). `relay_only`: the offerer
    /// started over with a relay-only connection, and asks the answerer to do the same.
    Offer {
        sdp: String,
        restart: bool,
        relay_only: bool,
    },
    /// `follows_relay`: the answerer starts over relay-only when the offerer does (Tincan engines say so;
    /// browsers, which would take such an offer as a renegotiation, do not).
    Answer {
        sdp: String,
        follows_relay: bool,
    },
    Candidate(RTCIceCandidateInit),
    EndOfCandidates,
}

/// The marker Tincan adds to descriptions (`tincan_fallback`); other peers ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Fallback {
    /// On an offer: this is a relay-only start-over.
    Relay,
    /// On an answer: this side follows a relay-only start-over.
    Supported,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SdpType {
    Offer,
    Answer,
}

/// A session description as browsers write it (`{"type":"offer","sdp":"v=0…"}`), with Tincan's marker.
#[derive(Serialize, Deserialize)]
struct WireDescription {
    #[serde(rename = "type")]
    kind: SdpType,
    sdp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tincan_fallback: Option<Fallback>,
}

fn bad(what: &str) -> EngineError {
    EngineError::Invalid(format!("a {what} that is not one"))
}

impl PeerSignal {
    /// The `signal` message's kind and data.
    pub fn to_wire(&self) -> Result<(SignalKind, Value)> {
        let description = |kind, sdp: &String, fallback| {
            serde_json::to_value(WireDescription { kind, sdp: sdp.clone(), tincan_fallback: fallback })
        };
        Ok(match self {
            PeerSignal::Offer { sdp, restart, relay_only } => {
                let kind = if *restart { SignalKind::IceRestart } else { SignalKind::Offer };
                (kind, description(SdpType::Offer, sdp, relay_only.then_some(Fallback::Relay))?)
            }
            PeerSignal::Answer { sdp, follows_relay } => {
                (SignalKind::Answer, description(SdpType::Answer, sdp, follows_relay.then_some(Fallback::Supported))?)
            }
            PeerSignal::Candidate(c) => (SignalKind::Candidate, serde_json::to_value(c)?),
            PeerSignal::EndOfCandidates => (SignalKind::EndOfCandidates, Value::Null),
        })
    }

    /// Read a `signal` message; an offer that is not an offer (or an answer that is not an answer) is refused.
    pub fn from_wire(kind: SignalKind, data: Value) -> Result<PeerSignal> {
        Ok(match kind {
            SignalKind::Offer | SignalKind::IceRestart => {
                let wire: WireDescription = serde_json::from_value(data)?;
                if wire.kind != SdpType::Offer {
                    return Err(bad("offer"));
                }
                PeerSignal::Offer {
                    sdp: wire.sdp,
                    restart: kind == SignalKind::IceRestart,
                    relay_only: wire.tincan_fallback == Some(Fallback::Relay),
                }
            }
            SignalKind::Answer => {
                let wire: WireDescription = serde_json::from_value(data)?;
                if wire.kind != SdpType::Answer {
                    return Err(bad("answer"));
                }
                PeerSignal::Answer { sdp: wire.sdp, follows_relay: wire.tincan_fallback == Some(Fallback::Supported) }
            }
            SignalKind::Candidate => PeerSignal::Candidate(serde_json::from_value(data)?),
            SignalKind::EndOfCandidates => PeerSignal::EndOfCandidates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

    #[test]
    fn round_trips_and_marks() {
        let offer = PeerSignal::Offer { sdp: SDP.into(), restart: false, relay_only: true };
        let (kind, data) = offer.to_wire().unwrap();
        assert_eq!(kind, SignalKind::Offer);
        assert_eq!(data["tincan_fallback"], "relay");
        assert_eq!((data["type"].as_str(), data["sdp"].as_str()), (Some("offer"), Some(SDP)));
        assert_eq!(PeerSignal::from_wire(kind, data).unwrap(), offer);

        let answer = PeerSignal::Answer { sdp: SDP.into(), follows_relay: true };
        let (kind, data) = answer.to_wire().unwrap();
        assert_eq!(data["tincan_fallback"], "supported");
        assert_eq!(PeerSignal::from_wire(kind, data).unwrap(), answer);

        let restart = PeerSignal::Offer { sdp: SDP.into(), restart: true, relay_only: false };
        let (kind, data) = restart.to_wire().unwrap();
        assert_eq!(kind, SignalKind::IceRestart);
        assert!(data.get("tincan_fallback").is_none(), "a browser sees a plain description");
        assert_eq!(PeerSignal::from_wire(kind, data).unwrap(), restart);
    }

    #[test]
    fn a_browsers_answer_does_not_follow_and_mislabelled_descriptions_are_refused() {
        let plain = serde_json::json!({ "type": "answer", "sdp": SDP });
        let answer = PeerSignal::from_wire(SignalKind::Answer, plain.clone()).unwrap();
        assert!(matches!(answer, PeerSignal::Answer { follows_relay: false, .. }));
        assert!(PeerSignal::from_wire(SignalKind::Offer, plain).is_err());
        assert!(PeerSignal::from_wire(SignalKind::Answer, serde_json::json!({ "sdp": 5 })).is_err());
        let candidate = serde_json::json!({ "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0" });
        assert!(matches!(PeerSignal::from_wire(SignalKind::Candidate, candidate), Ok(PeerSignal::Candidate(_))));
    }
}
