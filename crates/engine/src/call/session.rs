//! One peer connection and what hangs off it: data channels, sending tracks, offer/answer bookkeeping.

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

use rtc::rtp_transceiver::RTCRtpTransceiverId;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tincan_media::codec::VideoCodec;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

use super::sinks::Level;
use crate::Result;
use crate::data::control::ControlMessage;
use crate::data::files::{Files, Receiving};
use crate::data::{CONTROL_STREAM, FILES_STREAM};
use crate::events::EngineEvent;
use crate::media::receive::SharedSync;
use crate::media::send::Outlet;
use crate::media::sync::LipSync;
use crate::peer::{
    BandwidthTarget, Peer, PeerEvent, PeerSettings, SCREEN_TRACK_PREFIX, VideoTrack, add_named_track, add_track,
    build_peer, codec_parameters, opus_parameters,
};
use crate::stats::LinkSampler;

/// Video sections a connection holds at most (camera, a share, and room for the other side's share and one
/// more): a peer's requests for sections to send on cannot grow it without end.
const MAX_VIDEO_SECTIONS: usize = 4;

/// What the control channel's reader tells the driver.
pub enum ControlEvent {
    Open,
    Message(ControlMessage),
    Closed,
}

/// Tells one link's events from another's (a participant's connection may be replaced: the relay
/// start-over, or leaving and coming back), so a closed connection's late events are not taken for its
/// successor's.
pub type LinkSerial = u64;

/// One participant's peer connection. Negotiation decisions are the call core's; this performs them.
pub struct Session {
    pub serial: LinkSerial,
    pub pc: Arc<dyn PeerConnection>,
    pub bandwidth: BandwidthTarget,
    pub control: Arc<dyn DataChannel>,
    pub control_open: bool,
    pub files: Arc<Files>,
    pub video: Option<(VideoTrack, VideoCodec)>,
    pub audio: Option<VideoTrack>,
    /// TURN servers reached over TCP or TLS (their bridges live as long as the connection).
    pub bridges: Vec<crate::peer::TurnBridge>,
    /// Without a camera: the transceiver that holds the camera's section with a track that never sends.
    idle_camera: Option<RTCRtpTransceiverId>,
    /// Our screen share's track on this link, and whether the share's encoder writes into it yet (after the
    /// offer and answer that carry it).
    pub screen: Option<(VideoTrack, bool)>,
    /// Media flows on this link (its first negotiation and connection are done).
    pub sending: bool,
    /// The participant shares their screen (a track of theirs is a share).
    pub remote_sharing: bool,
    remote_description: bool,
    pending_candidates: Vec<RTCIceCandidateInit>,
    /// The verification digits were shown for this connection.
    pub verified: bool,
    /// Ties this participant's audio and video together (shared by their receive tasks).
    pub lip_sync: SharedSync,
    /// Frames decoded from this participant (audio and video), for the call machine's silence probe.
    pub decoded: Arc<AtomicU64>,
    /// How loud this participant is.
    pub level: Arc<Level>,
    /// The link's transport figures for the stats.
    pub stats: LinkSampler,
    /// Remote tracks playing (each video track has a decoder and a presenter thread); `told_too_many`: the
    /// front end heard that some were refused.
    pub tracks: Arc<AtomicUsize>,
    pub told_too_many: bool,
    /// Their current share's receive task (stopped when the next share comes or the link closes).
    pub share_task: Option<tokio::task::AbortHandle>,
    /// Ask the offerer for an offer once the control channel opens.
    pub ask_when_open: bool,
    /// Our last offer restarted ICE (an answer with the other side's old credentials is then stale).
    offered_restart: bool,
}

/// What a session's tasks tell the driver, tagged with its serial.
pub struct Tagged<T> {
    pub serial: LinkSerial,
    pub event: T,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        serial: LinkSerial,
        settings: &PeerSettings,
        send_video: bool,
        send_audio: bool,
        receiving: Receiving,
        peer_events: mpsc::UnboundedSender<Tagged<PeerEvent>>,
        control_events: mpsc::UnboundedSender<Tagged<ControlEvent>>,
        engine_events: mpsc::UnboundedSender<EngineEvent>,
    ) -> Result<Session> {
        let Peer { pc, mut events, bandwidth, bridges } = build_peer(settings).await?;
        // Ends when the connection's handler is dropped (the connection closed).
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if peer_events.send(Tagged { serial, event }).is_err() {
                    break;
                }
            }
        });
        let channel = |label: &'static str, id: u16| {
            let pc = pc.clone();
            async move {
                let init = RTCDataChannelInit { ordered: true, negotiated: Some(id), ..Default::default() };
                pc.create_data_channel(label, Some(init)).await
            }
        };
        let control = channel("control", CONTROL_STREAM).await?;
        let files_channel = channel("files", FILES_STREAM).await?;
        let files = Files::start(files_channel, receiving, engine_events);
        let reader = control.clone();
        tokio::spawn(async move {
            while let Some(event) = reader.poll().await {
                match event {
                    DataChannelEvent::OnOpen => {
                        let _ = control_events.send(Tagged { serial, event: ControlEvent::Open });
                    }
                    DataChannelEvent::OnMessage(m) if m.is_string => match serde_json::from_slice(&m.data) {
                        Ok(msg) => {
                            let _ = control_events.send(Tagged { serial, event: ControlEvent::Message(msg) });
                        }
                        Err(e) => tracing::warn!("bad control message: {e}"),
                    },
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
            let _ = control_events.send(Tagged { serial, event: ControlEvent::Closed });
        });

        let preferred = *settings.video_codecs.first().unwrap_or(&VideoCodec::Vp8);
        let recvonly =
            || Some(RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Recvonly, ..Default::default() });
        let mut idle_camera = None;
        let video = if send_video {
            Some((add_track(&pc, RtpCodecKind::Video, codec_parameters(preferred).rtp_codec).await?, preferred))
        } else {
            // No camera: the first video section is still the camera's (the other side takes a track on it
            // for a camera, see `on_share_section`), with a track that never sends, as a browser's camera
            // turned off. Without one, webrtc-rs's add_track would put our share on the first video section
            // with no sender, and a section made receive-only would not pair with a receive-only offer's.
            let (unused, _) = crate::peer::local_track(RtpCodecKind::Video, codec_parameters(preferred).rtp_codec)?;
            let camera = pc.add_transceiver_from_track(unused as Arc<dyn TrackLocal>, None).await?;
            // Made from a track, the section would offer that track's codec only: a camera in another
            // codec could not come in on it.
            camera.set_codec_preferences(settings.video_codecs.iter().map(|c| codec_parameters(*c)).collect()).await?;
            idle_camera = Some(camera.id());
            None
        };
        let audio = if send_audio {
            Some(add_track(&pc, RtpCodecKind::Audio, opus_parameters().rtp_codec).await?)
        } else {
            pc.add_transceiver_from_kind(RtpCodecKind::Audio, recvonly()).await?;
            None
        };
        Ok(Session {
            serial,
            pc,
            bandwidth,
            control,
            control_open: false,
            files,
            video,
            audio,
            bridges,
            idle_camera,
            screen: None,
            sending: false,
            remote_sharing: false,
            remote_description: false,
            pending_candidates: Vec::new(),
            verified: false,
            lip_sync: Arc::new(Mutex::new(LipSync::new(std::time::Instant::now()))),
            decoded: Arc::default(),
            level: Arc::default(),
            stats: LinkSampler::default(),
            tracks: Arc::default(),
            told_too_many: false,
            share_task: None,
            ask_when_open: false,
            offered_restart: false,
        })
    }

    /// Add our screen share's track (`codec`: the share's encoder's). Negotiation must follow.
    pub async fn add_screen(&mut self, codec: VideoCodec) -> Result<()> {
        if self.screen.is_none() {
            let params = codec_parameters(codec).rtp_codec;
            let track = add_named_track(&self.pc, SCREEN_TRACK_PREFIX, RtpCodecKind::Video, params).await?;
            self.screen = Some((track, false));
        }
        Ok(())
    }

    /// Take the share's track off (its section stays, inactive). Negotiation must follow.
    pub async fn remove_screen(&mut self) -> Result<()> {
        if let Some((track, _)) = self.screen.take() {
            self.pc.remove_track(&track.sender).await?;
        }
        Ok(())
    }

    /// Our sending video tracks that have no section in the descriptions yet (added while we answer: only
    /// the offerer can add one, so we ask it for that many).
    pub async fn unplaced_video(&self) -> u8 {
        let mut n = 0u8;
        for t in self.pc.get_transceivers().await {
            let sends = match t.sender().await {
                Ok(Some(sender)) => {
                    sender.track().kind().await == RtpCodecKind::Video && Some(t.id()) != self.idle_camera
                }
                _ => false,
            };
            if sends && matches!(t.mid().await, Ok(None)) {
                n = n.saturating_add(1);
            }
        }
        n
    }

    /// Whether the remote track `track_id` plays on a later video section than the first, the camera's:
    /// Tincan engines and the guest page put their camera on the first (one without a camera keeps that
    /// section all the same) and a share on a later one. It is how a browser's share is told from its camera (a
    /// page cannot name its tracks).
    pub async fn on_share_section(&self, track_id: &str) -> bool {
        let Some(remote) = self.pc.remote_description().await else { return false };
        let Some(first) = first_video_mid(&remote.sdp) else { return false };
        for t in self.pc.get_transceivers().await {
            if let Ok(Some(r)) = t.receiver().await
                && r.track().track_id().await.as_str() == track_id
            {
                return t.mid().await.ok().flatten().is_some_and(|mid| mid != first);
            }
        }
        false
    }

    /// Says which of our relays a candidate pair uses, if its local candidate is one of ours over TCP or TLS
    /// (the stats had it as UDP: webrtc-rs talks UDP to the bridge in the server's place).
    pub fn name_relay(&self, pair: &mut Option<crate::stats::CandidatePair>) {
        let Some(pair) = pair.as_mut().filter(|p| p.relay_protocol.is_some()) else { return };
        // webrtc-rs keeps the URL it was given: `turn:127.0.0.1:PORT?transport=udp`.
        let address = pair.local_url.split_once(':').and_then(|(_, rest)| rest.split('?').next());
        let bridge = self.bridges.iter().find(|b| address == Some(b.local_addr().to_string().as_str()));
        if let Some(b) = bridge {
            pair.relay_protocol = Some(b.server.kind.name().to_owned());
        }
    }

    /// The share's outlet once negotiated: the negotiated payload type, if its codec is the share encoder's.
    pub async fn screen_outlet(&self, codec: VideoCodec) -> Result<Option<Outlet>> {
        let Some((track, _)) = &self.screen else { return Ok(None) };
        let params = track.sender.get_parameters().await?;
        let Some(n) = params.rtp_parameters.codecs.first() else { return Ok(None) };
        let mime = n.rtp_codec.mime_type.to_ascii_lowercase();
        let negotiated = if mime.ends_with("h264") { VideoCodec::H264 } else { VideoCodec::Vp8 };
        if negotiated != codec {
            return Ok(None);
        }
        Ok(Some(Outlet { track: track.track.clone(), ssrc: track.ssrc, payload_type: n.payload_type }))
    }

    /// Make an offer (restarting ICE if asked) with `receive_video` more video sections to receive on, and
    /// apply it; returns its SDP.
    pub async fn offer(&mut self, ice_restart: bool, receive_video: u8) -> Result<String> {
        // However often a peer asks, the connection holds a few video sections at most.
        let mut videos = 0;
        for t in self.pc.get_transceivers().await {
            if let Ok(Some(r)) = t.receiver().await
                && r.track().kind().await == RtpCodecKind::Video
            {
                videos += 1;
            }
        }
        for _ in videos..(videos + receive_video as usize).min(MAX_VIDEO_SECTIONS) {
            let init = RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Recvonly, ..Default::default() };
            self.pc.add_transceiver_from_kind(RtpCodecKind::Video, Some(init)).await?;
        }
        self.offered_restart = ice_restart;
        if ice_restart {
            self.pc.restart_ice().await?;
        }
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer.clone()).await?;
        Ok(offer.sdp)
    }

    /// Apply the remote offer and return our answer's SDP.
    pub async fn answer(&mut self, offer: String) -> Result<String> {
        self.pc.set_remote_description(RTCSessionDescription::offer(offer)?).await?;
        self.remote_description = true;
        self.flush_candidates().await;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer.clone()).await?;
        Ok(answer.sdp)
    }

    /// Whether `answer` answers an offer before our pending ICE restart: it carries the other side's ICE
    /// credentials as they were (a restart's answer brings new ones).
    pub async fn stale_answer(&self, answer: &str) -> bool {
        if !self.offered_restart {
            return false;
        }
        let ufrag = |sdp: &str| sdp.lines().find_map(|l| l.trim().strip_prefix("a=ice-ufrag:").map(str::to_owned));
        let current = self.pc.remote_description().await.and_then(|d| ufrag(&d.sdp));
        current.is_some() && current == ufrag(answer)
    }

    /// Apply the answer to our offer.
    pub async fn accept_answer(&mut self, answer: String) -> Result<()> {
        self.pc.set_remote_description(RTCSessionDescription::answer(answer)?).await?;
        self.remote_description = true;
        self.flush_candidates().await;
        Ok(())
    }

    pub async fn add_candidate(&mut self, candidate: RTCIceCandidateInit) {
        if !self.remote_description {
            self.pending_candidates.push(candidate);
            return;
        }
        if let Err(e) = self.pc.add_ice_candidate(candidate).await {
            tracing::debug!("remote candidate refused: {e}");
        }
    }

    async fn flush_candidates(&mut self) {
        for c in std::mem::take(&mut self.pending_candidates) {
            if let Err(e) = self.pc.add_ice_candidate(c).await {
                tracing::debug!("remote candidate refused: {e}");
            }
        }
    }

    /// After negotiation: the outlets to write media into, with the negotiated codec. A track made for
    /// another codec than the one negotiated is replaced (webrtc-rs packetizes per the track's codec).
    pub async fn outlets(&mut self) -> Result<(Option<(Outlet, VideoCodec)>, Option<Outlet>)> {
        let mut video_out = None;
        if let Some((track, codec)) = &mut self.video {
            let params = track.sender.get_parameters().await?;
            let negotiated = params.rtp_parameters.codecs.first().cloned();
            if let Some(n) = negotiated {
                let mime = n.rtp_codec.mime_type.to_ascii_lowercase();
                let wanted = if mime.ends_with("h264") { VideoCodec::H264 } else { VideoCodec::Vp8 };
                if wanted != *codec {
                    let (new_track, ssrc) = crate::peer::local_track(RtpCodecKind::Video, n.rtp_codec.clone())?;
                    track.sender.replace_track(new_track.clone() as Arc<dyn TrackLocal>).await?;
                    track.track = new_track;
                    track.ssrc = ssrc;
                    *codec = wanted;
                }
                video_out = Some((
                    Outlet { track: track.track.clone(), ssrc: track.ssrc, payload_type: n.payload_type },
                    *codec,
                ));
            }
        }
        let mut audio_out = None;
        if let Some(track) = &self.audio {
            let params = track.sender.get_parameters().await?;
            if let Some(n) = params.rtp_parameters.codecs.first() {
                audio_out = Some(Outlet { track: track.track.clone(), ssrc: track.ssrc, payload_type: n.payload_type });
            }
        }
        Ok((video_out, audio_out))
    }

    pub async fn send_control(&self, message: &ControlMessage) -> Result<()> {
        self.control.send_text(&serde_json::to_string(message)?).await?;
        Ok(())
    }
}

/// The mid of a description's first video section (its `a=mid` line).
fn first_video_mid(sdp: &str) -> Option<&str> {
    let mut in_video = false;
    for line in sdp.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            in_video = media.starts_with("video ");
        } else if in_video && let Some(mid) = line.strip_prefix("a=mid:") {
            return Some(mid.trim());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::first_video_mid;

    #[test]
    fn the_first_video_section_is_found_after_audio_and_data() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n\
                   a=mid:2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\n";
        assert_eq!(first_video_mid(sdp), Some("2"));
        assert_eq!(first_video_mid("v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\n"), None);
        // A video section without a mid does not borrow the next one's.
        assert_eq!(first_video_mid("m=video 9 RTP/AVP 96\r\nm=audio 9 RTP/AVP 0\r\na=mid:x\r\n"), None);
    }
}
