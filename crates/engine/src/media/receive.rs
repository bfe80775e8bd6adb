//! Receiving: one task per remote track reads RTP. Video goes through the frame assembler to a decoder
//! thread (a small bounded hand-off: if decoding falls behind, frames are dropped and a keyframe is asked
//! for) and the presenter, which holds each frame until its audio is heard (lip sync); audio is decoded on
//! the task (Opus takes ~40 µs a frame), with FEC/PLC for lost packets. Both tasks read the sender's RTCP
//! sender reports into the call's [`LipSync`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use tincan_media::codec::{OpusDecoder, VideoCodec, video_decoder};
use tincan_media::source::{AudioSink, VideoSink};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::MediaCounters;
use super::assembler::{Assembled, AssembledFrame, FrameAssembler};
use super::presenter::Presenter;
use super::sync::LipSync;

/// Frames waiting for the decoder.
const DECODE_QUEUE: usize = 4;
/// At most one keyframe request per this interval.
const PLI_INTERVAL: Duration = Duration::from_millis(300);
const VIDEO_CLOCK: u64 = 90_000;
const AUDIO_CLOCK: u32 = 48_000;

/// The lip sync shared by one call's receive tasks.
pub type SharedSync = Arc<Mutex<LipSync>>;

fn with_sync<T>(sync: &SharedSync, f: impl FnOnce(&mut LipSync) -> T) -> T {
    f(&mut sync.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The sender report about `ssrc` among RTCP packets, as (RTP time, NTP time).
fn sender_report(packets: &[Box<dyn rtc::rtcp::Packet>], ssrc: u32) -> Option<(u32, u64)> {
    packets
        .iter()
        .filter_map(|p| p.as_any().downcast_ref::<SenderReport>())
        .find(|sr| sr.ssrc == ssrc)
        .map(|sr| (sr.rtp_time, sr.ntp_time))
}

fn codec_of(mime: &str) -> Option<VideoCodec> {
    match mime.to_ascii_lowercase().as_str() {
        "video/vp8" => Some(VideoCodec::Vp8),
        "video/h264" => Some(VideoCodec::H264),
        _ => None,
    }
}

/// What a remote track is, once its first packet arrived.
pub async fn describe(track: &Arc<dyn TrackRemote>) -> Option<(u32, String)> {
    let ssrc = *track.ssrcs().await.first()?;
    let codec = track.codec(ssrc).await?;
    Some((ssrc, codec.mime_type))
}

/// Receive video until the track ends.
pub async fn run_video(
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    mime: String,
    sink: Box<dyn VideoSink>,
    counters: Arc<MediaCounters>,
    sync: SharedSync,
    decoded: Arc<AtomicU64>,
) {
    let Some(codec) = codec_of(&mime) else {
        return tracing::warn!("unsupported video codec {mime}");
    };
    with_sync(&sync, |s| s.video.forget()); // a new stream: its reports are still to come
    let want_keyframe = Arc::new(AtomicBool::new(false));
    let (to_decoder, from_receiver) = std_mpsc::sync_channel::<AssembledFrame>(DECODE_QUEUE);
    let decoder = Decoder {
        codec,
        counters: counters.clone(),
        decoded,
        want_keyframe: want_keyframe.clone(),
        sync: sync.clone(),
    };
    let decoder_thread = decoder.spawn(from_receiver, sink);
    let mut assembler = FrameAssembler::new(codec);
    let mut last_pli: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        // The tick lets the assembler give up on lost packets even when nothing else arrives.
        tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(packet)) => assembler.push(packet),
                Some(TrackRemoteEvent::OnRtcpPacket(packets)) => {
                    if let Some((rtp, ntp)) = sender_report(&packets, ssrc) {
                        with_sync(&sync, |s| s.video.on_report(rtp, ntp));
                    }
                }
                Some(TrackRemoteEvent::OnEnded) | None => break,
                Some(_) => {}
            },
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        while let Some(out) = assembler.pop(now) {
            match out {
                Assembled::Frame(frame) => {
                    if to_decoder.try_send(frame).is_err() {
                        want_keyframe.store(true, Ordering::Relaxed);
                    }
                }
                Assembled::NeedKeyframe => want_keyframe.store(true, Ordering::Relaxed),
            }
        }
        counters.video_frames_lost.store(assembler.frames_lost, Ordering::Relaxed);
        if want_keyframe.load(Ordering::Relaxed) && last_pli.is_none_or(|t| now - t >= PLI_INTERVAL) {
            want_keyframe.store(false, Ordering::Relaxed);
            last_pli = Some(now);
            MediaCounters::bump(&counters.keyframe_requests_sent);
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: ssrc };
            if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                tracing::debug!("PLI not sent: {e}");
            }
        }
    }
    drop(to_decoder);
    let _ = tokio::task::spawn_blocking(move || decoder_thread.join()).await;
}

/// The decoder thread's part: decode, then hand the picture to the presenter with its due time.
struct Decoder {
    codec: VideoCodec,
    counters: Arc<MediaCounters>,
    /// This link's decoded frames (the call machine's silence probe watches it).
    decoded: Arc<AtomicU64>,
    want_keyframe: Arc<AtomicBool>,
    sync: SharedSync,
}

impl Decoder {
    fn spawn(
        self,
        frames: std_mpsc::Receiver<AssembledFrame>,
        sink: Box<dyn VideoSink>,
    ) -> std::thread::JoinHandle<()> {
        // The call's and the participant's span follow the frames onto this thread.
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name(format!("{}-decoder", self.codec.name().to_lowercase()))
            .spawn(move || {
                let _span = span.entered();
                let presenter = Presenter::spawn(sink);
                self.run(frames, &presenter);
                presenter.finish();
            })
            .expect("spawning a thread")
    }

    fn run(&self, frames: std_mpsc::Receiver<AssembledFrame>, presenter: &Presenter) {
        let (codec, counters) = (self.codec, &self.counters);
        let mut decoder = match video_decoder(codec) {
            Ok(d) => d,
            Err(e) => return tracing::error!("cannot start the {codec} decoder: {e}"),
        };
        let mut first_ts: Option<u32> = None;
        for frame in frames {
            let base = *first_ts.get_or_insert(frame.rtp_timestamp);
            let ticks = frame.rtp_timestamp.wrapping_sub(base) as u64;
            let timestamp = Duration::from_micros(ticks * 1_000_000 / VIDEO_CLOCK);
            match decoder.decode(&frame.data, timestamp) {
                Ok(Some(picture)) => {
                    MediaCounters::bump(&counters.video_frames_decoded);
                    MediaCounters::bump(&self.decoded);
                    counters.width_in.store(picture.width, Ordering::Relaxed);
                    counters.height_in.store(picture.height, Ordering::Relaxed);
                    let due = with_sync(&self.sync, |s| {
                        let due = s.video_due(frame.rtp_timestamp, Instant::now());
                        counters.set_sync(s.state());
                        due
                    });
                    presenter.present(picture, due);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!("{e}");
                    MediaCounters::bump(&counters.video_decode_errors);
                    self.want_keyframe.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Receive audio until the track ends.
pub async fn run_audio(
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    mut sink: Box<dyn AudioSink>,
    counters: Arc<MediaCounters>,
    sync: SharedSync,
    decoded: Arc<AtomicU64>,
) {
    let mut decoder = match OpusDecoder::new() {
        Ok(d) => d,
        Err(e) => return tracing::error!("cannot start the Opus decoder: {e}"),
    };
    with_sync(&sync, |s| s.audio.forget()); // a new stream: its reports are still to come
    let mut last_seq: Option<u16> = None;
    let mut media_time = Duration::ZERO;
    let mut pause = PauseDetector::default();
    while let Some(event) = track.poll().await {
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(p) => p,
            TrackRemoteEvent::OnRtcpPacket(packets) => {
                if let Some((rtp, ntp)) = sender_report(&packets, ssrc) {
                    with_sync(&sync, |s| s.audio.on_report(rtp, ntp));
                }
                continue;
            }
            TrackRemoteEvent::OnEnded => break,
            _ => continue,
        };
        let seq = packet.header.sequence_number;
        let missing = last_seq.map_or(0, |l| seq.wrapping_sub(l).wrapping_sub(1));
        if last_seq.is_some() && missing > 0x8000 {
            continue; // late or duplicate
        }
        last_seq = Some(seq);
        if pause.paused(packet.header.timestamp, Instant::now()) {
            with_sync(&sync, |s| s.audio.forget());
        }
        // Conceal up to five lost frames (100 ms): the first from this packet's FEC, the rest by PLC.
        for i in 0..missing.min(5) {
            let fec = (i + 1 == missing.min(5)).then_some(&packet.payload[..]);
            if let Ok(frame) = decoder.conceal(fec, media_time) {
                MediaCounters::bump(&counters.audio_frames_concealed);
                media_time += frame.duration();
                sink.on_frame(frame);
            }
        }
        match decoder.decode(&packet.payload, media_time) {
            Ok(frame) => {
                MediaCounters::bump(&counters.audio_frames_decoded);
                MediaCounters::bump(&decoded);
                media_time += frame.duration();
                let end = packet.header.timestamp.wrapping_add(frame.samples.len() as u32);
                sink.on_frame(frame);
                let now = Instant::now();
                let latency = sink.latency();
                let extra = with_sync(&sync, |s| {
                    s.audio_heard(end, now + latency.unwrap_or_default());
                    latency.map(|_| s.audio_minimum_delay(now))
                });
                if let Some(extra) = extra {
                    sink.set_minimum_delay(extra);
                }
            }
            Err(e) => tracing::debug!("{e}"),
        }
    }
}

/// A sender that stops sending audio (muted, microphone gone) carries on with the RTP timestamp where it
/// stopped (webrtc-rs's sample writer cannot skip time without skipping sequence numbers, which would read
/// as loss); its next sender report ties the clocks again. Until then lip sync must not use the old tie:
/// this notices the pause — far more wall-clock time between two packets than RTP time.
#[derive(Default)]
struct PauseDetector {
    last: Option<(u32, Instant)>,
}

impl PauseDetector {
    const SLACK: Duration = Duration::from_millis(250);

    fn paused(&mut self, rtp_time: u32, now: Instant) -> bool {
        let paused = self.last.is_some_and(|(ts, at)| {
            let media = Duration::from_micros(rtp_time.wrapping_sub(ts) as u64 * 1_000_000 / AUDIO_CLOCK as u64);
            now.duration_since(at) > media + Self::SLACK
        });
        self.last = Some((rtp_time, now));
        paused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_more_wall_clock_time_than_rtp_time() {
        let t0 = Instant::now();
        let mut pause = PauseDetector::default();
        let ms = Duration::from_millis;
        // Packets every 20 ms, with network jitter of up to 200 ms: no pause.
        assert!(!pause.paused(1000, t0));
        assert!(!pause.paused(1960, t0 + ms(20)));
        assert!(!pause.paused(2920, t0 + ms(240)));
        assert!(!pause.paused(3880, t0 + ms(241)));
        // Muted for a second: the next packet carries on 20 ms later in RTP time.
        assert!(pause.paused(4840, t0 + ms(1300)));
        // Wrap-around of the RTP clock is no pause.
        let mut pause = PauseDetector::default();
        assert!(!pause.paused(u32::MAX - 500, t0));
        assert!(!pause.paused(459, t0 + ms(20)));
    }
}
