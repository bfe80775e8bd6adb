//! Building a peer connection: codecs in preference order, the interceptor chain (NACK, RTCP reports,
//! TWCC, keyframe requests to the application), ICE settings, and the UDP sockets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackGeneratorBuilder, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rustls::pki_types::CertificateDer;
use tincan_media::codec::VideoCodec;
use tincan_signal::protocol::IceServer;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::peer_connection::{
    CongestionFeedback, MediaEngine, PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder, RTCIceServer,
    RTCIceTransportPolicy, Registry, SettingEngineBuilder, configure_congestion_control, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

use super::bandwidth::{BandwidthTarget, ReportingEstimator};
use super::handler::{Forwarder, PeerEvent};
use super::rtcp::RtcpForwarder;
use super::runtime::BufferedRuntime;
use super::turn_stream::{StreamKind, StreamServer, TurnBridge, tls_config};
use crate::Result;

pub const OPUS_PAYLOAD_TYPE: u8 = 111;
const NACK_INTERVAL: Duration = Duration::from_millis(40);

/// How to build the peer connection.
#[derive(Clone, Debug)]
pub struct PeerSettings {
    /// From the signaling server's `welcome`, plus any the user configured.
    pub ice_servers: Vec<IceServer>,
    /// Only relay candidates (TURN), e.g. to hide one's address.
    pub relay_only: bool,
    /// Local UDP addresses to gather from. `0.0.0.0:0` = every interface but loopback; tests use `127.0.0.1:0`.
    pub udp_addrs: Vec<String>,
    /// Resolve peers' `.local` mDNS candidates (browsers on a LAN use them). Needs a multicast route.
    pub mdns: bool,
    /// ICE connectivity check interval and, once connected, keepalive interval. webrtc-rs flushes queued
    /// DTLS/SCTP packets on these ticks, so they bound how fast a call and its data channel open.
    pub ice_check_interval: Duration,
    pub ice_keepalive: Duration,
    /// Checks per candidate pair before it fails.
    pub ice_max_checks: u16,
    /// ICE reports `disconnected` after this long without traffic, `failed` after the second.
    pub ice_disconnected_after: Duration,
    pub ice_failed_after: Duration,
    /// How long ICE waits for a better pair before accepting one whose remote candidate was learned from a
    /// check (peer-reflexive), or a server-reflexive / relayed one. webrtc-rs waits 1 s / 0.5 s / 2 s by
    /// default; a peer-reflexive pair is routine on a fast path (the check overtakes the trickled
    /// candidate), so waiting there cost every call setup a second.
    pub prflx_wait: Duration,
    pub srflx_wait: Duration,
    pub relay_wait: Duration,
    /// Video codecs in order of preference (the offer lists them in this order).
    pub video_codecs: Vec<VideoCodec>,
    /// Roots trusted besides the usual web ones for every TLS connection of the call: TURN over TLS, and
    /// the signaling server (a server with a private CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            ice_servers: Vec::new(),
            relay_only: false,
            udp_addrs: vec!["0.0.0.0:0".into()],
            mdns: true,
            ice_check_interval: Duration::from_millis(20),
            // The data channel opens on these ticks: 50 ms gave a p50 of 72.8 ms (offer → both open), 20 ms
            // 42.7 ms. The cost: a STUN indication every 20 ms only while nothing else is sent (~4 KB/s on an
            // idle data-only call; none while media flows).
            ice_keepalive: Duration::from_millis(20),
            ice_max_checks: 50,
            // Media and 50 ms keepalives flow both ways: a second of silence means the path broke (a network
            // change), and the sooner the offerer restarts ICE the shorter the gap (see tests/nat_lab.rs).
            ice_disconnected_after: Duration::from_secs(1),
            ice_failed_after: Duration::from_secs(15),
            prflx_wait: Duration::ZERO,
            srflx_wait: Duration::from_millis(100),
            relay_wait: Duration::from_millis(500),
            video_codecs: vec![VideoCodec::Vp8, VideoCodec::H264],
            extra_roots: Vec::new(),
        }
    }
}

impl PeerSettings {
    /// Everything on 127.0.0.1, no mDNS: for tests and benchmarks on one machine.
    pub fn loopback() -> Self {
        PeerSettings { udp_addrs: vec!["127.0.0.1:0".into()], mdns: false, ..Default::default() }
    }
}

pub fn codec_parameters(codec: VideoCodec) -> RTCRtpCodecParameters {
    let (mime, fmtp, payload_type) = match codec {
        VideoCodec::Vp8 => (MIME_TYPE_VP8, "", 96),
        // Constrained Baseline, non-interleaved: what every browser offers and accepts.
        VideoCodec::H264 => {
            (MIME_TYPE_H264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102)
        }
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: fmtp.to_owned(),
            rtcp_feedback: video_feedback(),
        },
        payload_type,
    }
}

fn feedback(typ: &str, parameter: &str) -> RTCPFeedback {
    RTCPFeedback { typ: typ.to_owned(), parameter: parameter.to_owned() }
}

/// What video streams negotiate (as browsers do): NACK — without it the NACK interceptors leave the stream
/// alone, and every lost packet costs a keyframe —, PLI and FIR keyframe requests, and transport-wide
/// congestion feedback.
fn video_feedback() -> Vec<RTCPFeedback> {
    vec![feedback("nack", ""), feedback("nack", "pli"), feedback("ccm", "fir"), feedback("transport-cc", "")]
}

pub fn opus_parameters() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![feedback("transport-cc", "")],
        },
        payload_type: OPUS_PAYLOAD_TYPE,
    }
}

/// A built peer connection: the connection, its events, and its bandwidth estimate.
pub struct Peer {
    pub pc: Arc<dyn PeerConnection>,
    pub events: mpsc::UnboundedReceiver<PeerEvent>,
    pub bandwidth: BandwidthTarget,
    /// TURN servers reached over TCP or TLS, through bridges that live as long as the connection.
    pub bridges: Vec<TurnBridge>,
}

pub async fn build_peer(s: &PeerSettings) -> Result<Peer> {
    let mut media = MediaEngine::default();
    for codec in &s.video_codecs {
        media.register_codec(codec_parameters(*codec), RtpCodecKind::Video)?;
    }
    media.register_codec(opus_parameters(), RtpCodecKind::Audio)?;
    // After the codecs: these add their RTCP feedback to the codecs registered so far. Congestion control
    // first (GCC over TWCC, with its pacer); the defaults then add NACK, RTCP reports and the TWCC receiver.
    let (estimator, bandwidth) = ReportingEstimator::gcc();
    let registry = configure_congestion_control(Registry::new(), estimator, CongestionFeedback::Twcc, &mut media)?;
    // NACKs every 40 ms instead of the default 100: the frame assembler waits 150 ms for a missing packet,
    // which at 100 ms covered one request only — at 10 % loss a lost retransmission cost a keyframe.
    let nack = NackGeneratorBuilder::new().with_interval(NACK_INTERVAL).build();
    let registry = register_default_interceptors(registry, &mut media)?
        .with(Slot::NackGenerator, nack)
        .with(Slot::from(14_000), RtcpForwarder::default());
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(if s.mdns { MulticastDnsMode::QueryOnly } else { MulticastDnsMode::Disabled })
        .with_ice_connection_attempts(Some(s.ice_check_interval), Some(s.ice_max_checks))
        .with_ice_timeouts(Some(s.ice_disconnected_after), Some(s.ice_failed_after), Some(s.ice_keepalive))
        .with_prflx_acceptance_min_wait(Some(s.prflx_wait))
        .with_srflx_acceptance_min_wait(Some(s.srflx_wait))
        // Relay-only: every pair is relayed, so waiting for a better one only delays the call (measured through
        // coturn on loopback: join → first frame 444 ms with no wait, 841 ms with 500 ms, 2,333 ms with 2 s).
        .with_relay_acceptance_min_wait(Some(if s.relay_only { Duration::ZERO } else { s.relay_wait }))
        .build();
    let policy = if s.relay_only { RTCIceTransportPolicy::Relay } else { RTCIceTransportPolicy::All };
    let (ice_servers, bridges) = rtc_ice_servers(&s.ice_servers, &s.extra_roots).await?;
    let config = RTCConfigurationBuilder::new().with_ice_servers(ice_servers).with_ice_transport_policy(policy).build();
    let (events, rx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Forwarder::new(events)))
        .with_runtime(Arc::new(BufferedRuntime::new()))
        .with_udp_addrs(s.udp_addrs.clone())
        .build()
        .await?;
    Ok(Peer { pc: Arc::new(pc), events: rx, bandwidth, bridges })
}

/// The servers as webrtc-rs takes them: a TURN server over TCP or TLS gets a bridge (see `turn_stream`),
/// whose loopback URL stands in its place; one that cannot is left out, with a warning.
async fn rtc_ice_servers(
    servers: &[IceServer],
    extra_roots: &[CertificateDer<'static>],
) -> Result<(Vec<RTCIceServer>, Vec<TurnBridge>)> {
    let mut tls = None;
    let mut bridges = Vec::new();
    let mut out = Vec::new();
    for server in servers {
        let mut urls = Vec::new();
        for url in &server.urls {
            let Some(stream) = StreamServer::from_url(url) else {
                urls.push(url.clone());
                continue;
            };
            let config = match stream.kind {
                StreamKind::Tls => {
                    if tls.is_none() {
                        tls = Some(tls_config(extra_roots)?);
                    }
                    tls.clone()
                }
                StreamKind::Tcp => None,
            };
            match TurnBridge::start(stream, config).await {
                Ok(bridge) => {
                    urls.push(bridge.url());
                    bridges.push(bridge);
                }
                Err(e) => tracing::warn!("TURN server {url} left out: {e}"),
            }
        }
        out.push(RTCIceServer {
            urls,
            username: server.username.clone().unwrap_or_default(),
            credential: server.credential.clone().unwrap_or_default(),
        });
    }
    Ok((out, bridges))
}

/// A sending track with one codec (webrtc-rs fixes the packetizer per SSRC when the track is made).
pub struct VideoTrack {
    pub track: Arc<TrackLocalStaticSample>,
    pub sender: Arc<dyn RtpSender>,
    pub ssrc: u32,
}

/// Make a local track of `kind` with `codec` parameters (unique ids: keyframe requests are routed by track id).
pub fn local_track(kind: RtpCodecKind, codec: RTCRtpCodec) -> Result<(Arc<TrackLocalStaticSample>, u32)> {
    local_track_named(if kind == RtpCodecKind::Audio { "audio" } else { "video" }, kind, codec)
}

/// The track id a screen share's track has (`screen-…`): how the other side tells it from a camera.
pub const SCREEN_TRACK_PREFIX: &str = "screen";

/// A local track whose id (and stream) starts with `name`.
pub fn local_track_named(
    name: &str,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
) -> Result<(Arc<TrackLocalStaticSample>, u32)> {
    let ssrc: u32 = rand::random();
    let id = format!("{name}-{ssrc:08x}");
    let track = TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            format!("tincan-{ssrc:08x}"),
            id.clone(),
            id,
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                codec,
                ..Default::default()
            }],
        ),
    )?;
    Ok((Arc::new(track), ssrc))
}

/// Add a sending track to the connection.
pub async fn add_track(pc: &Arc<dyn PeerConnection>, kind: RtpCodecKind, codec: RTCRtpCodec) -> Result<VideoTrack> {
    let name = if kind == RtpCodecKind::Audio { "audio" } else { "video" };
    add_named_track(pc, name, kind, codec).await
}

/// Add a sending track whose id starts with `name` (see [`SCREEN_TRACK_PREFIX`]).
pub async fn add_named_track(
    pc: &Arc<dyn PeerConnection>,
    name: &str,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
) -> Result<VideoTrack> {
    let (track, ssrc) = local_track_named(name, kind, codec)?;
    let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
    Ok(VideoTrack { track, sender, ssrc })
}
