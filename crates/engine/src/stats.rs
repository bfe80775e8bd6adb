//! The once-a-second picture of a call: network figures from webrtc-rs's stats report, media figures from
//! the engine's own counters (webrtc-rs does not count frames).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;
use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

use crate::media::MediaCounters;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CandidatePair {
    /// `host`, `srflx`, `prflx` or `relay`.
    pub local_type: String,
    pub remote_type: String,
    pub local_address: String,
    pub remote_address: String,
}

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
}

/// One participant's figures in a stats snapshot.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ParticipantFigures {
    pub peer: String,
    /// Audio and video frames decoded from them so far.
    pub frames_decoded: u64,
    /// Their audio's level, dBFS (RMS, smoothed over about 200 ms); none before any audio.
    pub audio_level_dbfs: Option<f64>,
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
        let mut s = StatsSnapshot { video_codec, ..Default::default() };
        let (mut bytes_out, mut bytes_in) = (0, 0);
        if let Some(t) = report.transport() {
            bytes_out = t.bytes_sent;
            bytes_in = t.bytes_received;
            if let Some(RTCStatsReportEntry::IceCandidatePair(p)) = report.get(&t.selected_candidate_pair_id) {
                if p.current_round_trip_time > 0.0 {
                    s.rtt_ms = Some(p.current_round_trip_time * 1000.0);
                }
                // webrtc-rs 0.21 files candidates under `RTCLocalIceCandidate_<id>` / `RTCRemoteIceCandidate_<id>`
                // but names them in the pair by the bare id: try both.
                let candidate =
                    |id: &str, prefix: &str| match report.get(id).or_else(|| report.get(&format!("{prefix}{id}"))) {
                        Some(RTCStatsReportEntry::LocalCandidate(c) | RTCStatsReportEntry::RemoteCandidate(c)) => (
                            c.candidate_type.to_string(),
                            format!("{}:{}", c.address.clone().unwrap_or_default(), c.port),
                        ),
                        _ => (String::new(), String::new()),
                    };
                let (local_type, local_address) = candidate(&p.local_candidate_id, "RTCLocalIceCandidate_");
                let (remote_type, remote_address) = candidate(&p.remote_candidate_id, "RTCRemoteIceCandidate_");
                s.candidate_pair = Some(CandidatePair { local_type, remote_type, local_address, remote_address });
            }
        }
        let (mut received, mut lost) = (0u64, 0i64);
        for inbound in report.inbound_rtp_streams() {
            let r = &inbound.received_rtp_stream_stats;
            received += r.packets_received;
            lost += r.packets_lost;
            if r.rtp_stream_stats.kind == rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Video && r.jitter > 0.0 {
                // webrtc-rs reports jitter in RTP clock units.
                s.jitter_ms = Some(r.jitter / 90.0);
            }
        }
        s.packets_lost = lost;
        if received + lost.max(0) as u64 > 0 {
            s.loss_percent = lost.max(0) as f64 * 100.0 / (received + lost.max(0) as u64) as f64;
        }
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
