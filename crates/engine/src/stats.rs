//! The once-a-second picture of a call: network figures from webrtc-rs's stats report, media figures from
//! the engine's own counters (webrtc-rs does not count frames).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;
use tincan_media::voice::ProcessingStats;
use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

use crate::media::MediaCounters;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CandidatePair {
    /// `host`, `srflx`, `prflx` or `relay`.
    pub local_type: String,
    pub remote_type: String,
    pub local_address: String,
    pub remote_address: String,
    /// How our relay is reached when the local candidate is one: `udp`, `tcp` or `tls`.
    pub relay_protocol: Option<String>,
    /// The local candidate's server URL (as webrtc-rs was given it), to tell which relay it is.
    #[serde(skip)]
    pub local_url: String,
}

/// A call's figures once a second. With several participants, the rates (`kbps_*`) are summed over their
/// links and `rtt_ms` / `loss_percent` are the worst link's; frame rates and counters count everyone's media
/// together; `candidate_pair`, `packets_lost` and `jitter_ms` are one link's (each link's own are in
/// `participants`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StatsSnapshot {
    pub rtt_ms: Option<f64>,
    pub kbps_out: f64,
    pub kbps_in: f64,
    pub packets_lost: i64,
    pub loss_percent: f64,
    pub jitter_ms: Option<f64>,
    pub fps_out: f64,
    pub fps_in: f64,
    pub resolution_out: Option<(u32, u32)>,
    pub resolution_in: Option<(u32, u32)>,
    pub video_codec: Option<String>,
    pub frames_decoded: u64,
    pub frames_lost: u64,
    pub keyframe_requests_sent: u64,
    pub keyframe_requests_received: u64,
    pub audio_frames_decoded: u64,
    pub audio_frames_concealed: u64,
    pub target_kbps: Option<u32>,
    pub candidate_pair: Option<CandidatePair>,
    /// Lip sync, when both streams are tied: how long video frames wait for their audio, how much extra
    /// the audio waits for video, and how much later than its audio video is ready (ms).
    pub sync_video_hold_ms: Option<f64>,
    pub sync_audio_delay_ms: Option<f64>,
    pub sync_video_late_ms: Option<f64>,
    /// Each participant: frames decoded from them and how loud they are (for an active-speaker highlight).
    pub participants: Vec<ParticipantFigures>,
    /// What the echo canceller sees (delay, ERLE, divergence), when the front end gave the call one.
    pub voice_processing: Option<ProcessingStats>,
}

/// One participant's figures in a stats snapshot.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ParticipantFigures {
    pub peer: String,
    /// Audio and video frames decoded from them so far.
    pub frames_decoded: u64,
    /// Their audio's level, dBFS (RMS, smoothed over about 200 ms); none before any audio.
    pub audio_level_dbfs: Option<f64>,
    /// The link to them: round trip, rates, loss of what they send, the candidate pair in use.
    pub rtt_ms: Option<f64>,
    pub kbps_out: f64,
    pub kbps_in: f64,
    pub loss_percent: f64,
    pub candidate_pair: Option<CandidatePair>,
}

/// What a peer connection's stats report says of its transport.
struct Transport {
    bytes_out: u64,
    bytes_in: u64,
    rtt_ms: Option<f64>,
    candidate_pair: Option<CandidatePair>,
    received: u64,
    lost: i64,
    jitter_ms: Option<f64>,
}

impl Transport {
    fn read(report: &webrtc::peer_connection::RTCStatsReport) -> Transport {
        let mut t = Transport {
            bytes_out: 0,
            bytes_in: 0,
            rtt_ms: None,
            candidate_pair: None,
            received: 0,
            lost: 0,
            jitter_ms: None,
        };
        if let Some(transport) = report.transport() {
            t.bytes_out = transport.bytes_sent;
            t.bytes_in = transport.bytes_received;
            if let Some(RTCStatsReportEntry::IceCandidatePair(p)) = report.get(&transport.selected_candidate_pair_id) {
                if p.current_round_trip_time > 0.0 {
                    t.rtt_ms = Some(p.current_round_trip_time * 1000.0);
                }
                // webrtc-rs 0.21 files candidates under `RTCLocalIceCandidate_<id>` / `RTCRemoteIceCandidate_<id>`
                // but names them in the pair by the bare id: try both.
                let candidate =
                    |id: &str, prefix: &str| match report.get(id).or_else(|| report.get(&format!("{prefix}{id}"))) {
                        Some(RTCStatsReportEntry::LocalCandidate(c) | RTCStatsReportEntry::RemoteCandidate(c)) => (
                            c.candidate_type.to_string(),
                            format!("{}:{}", c.address.clone().unwrap_or_default(), c.port),
                            c.url.clone(),
                        ),
                        _ => (String::new(), String::new(), String::new()),
                    };
                let (local_type, local_address, local_url) = candidate(&p.local_candidate_id, "RTCLocalIceCandidate_");
                let (mut remote_type, remote_address, _) = candidate(&p.remote_candidate_id, "RTCRemoteIceCandidate_");
                // webrtc-rs lists only the remote candidates it was given; one it learned from the peer's
                // connectivity checks is by definition peer-reflexive (RFC 8445 7.3.1.3).
                if remote_type.is_empty() && !p.remote_candidate_id.is_empty() {
                    remote_type = "prflx".to_owned();
                }
                let relay_protocol = (local_type == "relay").then(|| "udp".to_owned());
                t.candidate_pair = Some(CandidatePair {
                    local_type,
                    remote_type,
                    local_address,
                    remote_address,
                    relay_protocol,
                    local_url,
                });
            }
        }
        for inbound in report.inbound_rtp_streams() {
            let r = &inbound.received_rtp_stream_stats;
            t.received += r.packets_received;
            t.lost += r.packets_lost;
            if r.rtp_stream_stats.kind == rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Video && r.jitter > 0.0 {
                // webrtc-rs reports jitter in RTP clock units.
                t.jitter_ms = Some(r.jitter / 90.0);
            }
        }
        t
    }

    fn loss_percent(&self) -> f64 {
        let lost = self.lost.max(0) as u64;
        if self.received + lost == 0 { 0.0 } else { lost as f64 * 100.0 / (self.received + lost) as f64 }
    }
}

/// One participant's link: its transport figures, rates from successive reports.
#[derive(Default)]
pub struct LinkSampler {
    last: Option<(Instant, u64, u64)>,
}

impl LinkSampler {
    /// Fills in `figures`' transport part.
    pub async fn sample(&mut self, pc: &Arc<dyn PeerConnection>, figures: &mut ParticipantFigures) {
        let now = Instant::now();
        let t = Transport::read(&pc.get_stats(now, StatsSelector::None).await);
        if let Some((then, out0, in0)) = self.last {
            let secs = now.duration_since(then).as_secs_f64().max(1e-3);
            figures.kbps_out = t.bytes_out.saturating_sub(out0) as f64 * 8.0 / 1000.0 / secs;
            figures.kbps_in = t.bytes_in.saturating_sub(in0) as f64 * 8.0 / 1000.0 / secs;
        }
        self.last = Some((now, t.bytes_out, t.bytes_in));
        figures.loss_percent = t.loss_percent();
        figures.rtt_ms = t.rtt_ms;
        figures.candidate_pair = t.candidate_pair;
    }
}

/// Turns successive reports into rates.
#[derive(Default)]
pub struct StatsSampler {
    last: Option<(Instant, u64, u64, u64, u64)>,
}

impl StatsSampler {
    pub async fn sample(
        &mut self,
        pc: &Arc<dyn PeerConnection>,
        counters: &MediaCounters,
        video_codec: Option<String>,
    ) -> StatsSnapshot {
        let now = Instant::now();
        let report = pc.get_stats(now, StatsSelector::None).await;
        let t = Transport::read(&report);
        let (bytes_out, bytes_in, loss_percent) = (t.bytes_out, t.bytes_in, t.loss_percent());
        let mut s = StatsSnapshot {
            video_codec,
            rtt_ms: t.rtt_ms,
            candidate_pair: t.candidate_pair,
            packets_lost: t.lost,
            loss_percent,
            jitter_ms: t.jitter_ms,
            ..Default::default()
        };
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let (sent, decoded) = (get(&counters.video_frames_sent), get(&counters.video_frames_decoded));
        if let Some((then, out0, in0, sent0, dec0)) = self.last {
            let secs = now.duration_since(then).as_secs_f64().max(1e-3);
            s.kbps_out = (bytes_out.saturating_sub(out0)) as f64 * 8.0 / 1000.0 / secs;
            s.kbps_in = (bytes_in.saturating_sub(in0)) as f64 * 8.0 / 1000.0 / secs;
            s.fps_out = sent.saturating_sub(sent0) as f64 / secs;
            s.fps_in = decoded.saturating_sub(dec0) as f64 / secs;
        }
        self.last = Some((now, bytes_out, bytes_in, sent, decoded));
        let size = |w: u32, h: u32| (w > 0).then_some((w, h));
        s.resolution_out =
            size(counters.width_out.load(Ordering::Relaxed), counters.height_out.load(Ordering::Relaxed));
        s.resolution_in = size(counters.width_in.load(Ordering::Relaxed), counters.height_in.load(Ordering::Relaxed));
        s.frames_decoded = decoded;
        s.frames_lost = get(&counters.video_frames_lost);
        s.keyframe_requests_sent = get(&counters.keyframe_requests_sent);
        s.keyframe_requests_received = get(&counters.keyframe_requests_received);
        s.audio_frames_decoded = get(&counters.audio_frames_decoded);
        s.audio_frames_concealed = get(&counters.audio_frames_concealed);
        let target = counters.target_bitrate.load(Ordering::Relaxed);
        s.target_kbps = (target > 0).then_some(target / 1000);
        if counters.sync_active.load(Ordering::Relaxed) {
            let ms = |c: &std::sync::atomic::AtomicU32| c.load(Ordering::Relaxed) as f64 / 1000.0;
            s.sync_video_hold_ms = Some(ms(&counters.sync_video_hold_us));
            s.sync_audio_delay_ms = Some(ms(&counters.sync_audio_delay_us));
            s.sync_video_late_ms = Some(counters.sync_video_late_us.load(Ordering::Relaxed) as f64 / 1000.0);
        }
        s
    }
}
