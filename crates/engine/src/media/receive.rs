//! Receiving: one task per remote track reads RTP. Video goes through the frame assembler to a decoder
//! thread (a small bounded hand-off: if decoding falls behind, frames are dropped and a keyframe is asked
//! for); audio is decoded on the task (Opus takes ~40 µs a frame), with FEC/PLC for lost packets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tincan_media::codec::{OpusDecoder, VideoCodec, video_decoder};
use tincan_media::source::{AudioSink, VideoSink};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::MediaCounters;
use super::assembler::{Assembled, AssembledFrame, FrameAssembler};

/// Frames waiting for the decoder.
const DECODE_QUEUE: usize = 4;
/// At most one keyframe request per this interval.
const PLI_INTERVAL: Duration = Duration::from_millis(300);
const VIDEO_CLOCK: u64 = 90_000;

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
) {
    let Some(codec) = codec_of(&mime) else {
        return tracing::warn!("unsupported video codec {mime}");
    };
    let want_keyframe = Arc::new(AtomicBool::new(false));
    let (to_decoder, from_receiver) = std_mpsc::sync_channel::<AssembledFrame>(DECODE_QUEUE);
    let decoder_thread = spawn_decoder(codec, from_receiver, sink, counters.clone(), want_keyframe.clone());
    let mut assembler = FrameAssembler::new(codec);
    let mut last_pli: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        // The tick lets the assembler give up on lost packets even when nothing else arrives.
        tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(packet)) => assembler.push(packet),
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

fn spawn_decoder(
    codec: VideoCodec,
    frames: std_mpsc::Receiver<AssembledFrame>,
    mut sink: Box<dyn VideoSink>,
    counters: Arc<MediaCounters>,
    want_keyframe: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("{}-decoder", codec.name().to_lowercase()))
        .spawn(move || {
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
                        counters.width_in.store(picture.width, Ordering::Relaxed);
                        counters.height_in.store(picture.height, Ordering::Relaxed);
                        sink.on_frame(picture);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!("{e}");
                        MediaCounters::bump(&counters.video_decode_errors);
                        want_keyframe.store(true, Ordering::Relaxed);
                    }
                }
            }
        })
        .expect("spawning a thread")
}

/// Receive audio until the track ends.
pub async fn run_audio(track: Arc<dyn TrackRemote>, mut sink: Box<dyn AudioSink>, counters: Arc<MediaCounters>) {
    let mut decoder = match OpusDecoder::new() {
        Ok(d) => d,
        Err(e) => return tracing::error!("cannot start the Opus decoder: {e}"),
    };
    let mut last_seq: Option<u16> = None;
    let mut media_time = Duration::ZERO;
    while let Some(event) = track.poll().await {
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(p) => p,
            TrackRemoteEvent::OnEnded => break,
            _ => continue,
        };
        let seq = packet.header.sequence_number;
        let missing = last_seq.map_or(0, |l| seq.wrapping_sub(l).wrapping_sub(1));
        if last_seq.is_some() && missing > 0x8000 {
            continue; // late or duplicate
        }
        last_seq = Some(seq);
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
                media_time += frame.duration();
                sink.on_frame(frame);
            }
            Err(e) => tracing::debug!("{e}"),
        }
    }
}
