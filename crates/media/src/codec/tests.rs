//! Codec round trips on the stamped test pattern and on tones: the content must survive.

use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::analysis::dominant_frequency;
use crate::synthetic::{TestPattern, ToneSource, Waveform, read_stamp};

fn round_trip(codec: VideoCodec, w: u32, h: u32) {
    let settings = EncoderSettings { width: w, height: h, fps: 30, bitrate_bps: 1_000_000, content: Content::Camera };
    let mut enc = video_encoder(codec, settings).unwrap();
    let mut dec = video_decoder(codec).unwrap();
    let pattern = TestPattern::new(w, h, 30, false).unwrap();
    let mut read = Vec::new();
    let mut keyframes = 0;
    for n in 0..40u32 {
        let frame = pattern.render(n, n * 1000, Duration::from_millis(n as u64 * 33));
        let force = n == 20;
        if n == 25 {
            enc.set_bitrate(400_000).unwrap();
        }
        let Some(e) = enc.encode(&frame, force).unwrap() else {
            continue;
        };
        if e.keyframe {
            keyframes += 1;
        }
        if n == 20 {
            assert!(e.keyframe, "{codec}: a requested keyframe is a keyframe");
        }
        if let Some(d) = dec.decode(&e.data, e.timestamp).unwrap() {
            assert_eq!((d.width, d.height), (w, h));
            read.push(read_stamp(&d).map(|s| s.counter));
        }
    }
    assert_eq!(keyframes, 2, "{codec}: the first frame and the requested one");
    let good: Vec<u32> = read.iter().flatten().copied().collect();
    assert!(good.len() >= 38, "{codec} {w}x{h}: only {} of {} stamps read", good.len(), read.len());
    assert!(good.windows(2).all(|p| p[1] > p[0]), "{codec}: in order");
}

#[test]
fn h264_round_trip_keeps_the_stamps() {
    round_trip(VideoCodec::H264, 320, 240);
    round_trip(VideoCodec::H264, 640, 480);
}

#[test]
fn vp8_round_trip_keeps_the_stamps() {
    round_trip(VideoCodec::Vp8, 320, 240);
    round_trip(VideoCodec::Vp8, 640, 480);
}

#[test]
fn decoders_refuse_garbage_without_panicking() {
    for codec in [VideoCodec::Vp8, VideoCodec::H264] {
        let mut dec = video_decoder(codec).unwrap();
        let garbage: Vec<u8> = (0..500u32).map(|i| (i * 31 % 251) as u8).collect();
        let _ = dec.decode(&garbage, Duration::ZERO);
        let _ = dec.decode(&[0, 0, 0, 1, 0x65], Duration::ZERO);
        assert!(dec.decode(&[], Duration::ZERO).unwrap_or(None).is_none());
    }
}

#[test]
fn opus_keeps_the_tone_and_conceals_losses() {
    let mut tone = ToneSource::new(Waveform::Sine { hz: 440.0 }, 0.5, false);
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let packets: Vec<Vec<u8>> = (0..50).map(|_| enc.encode(&tone.generate(Duration::ZERO)).unwrap()).collect();
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let frame = if i == 30 {
            // Packet 30 lost: rebuilt from 31's FEC.
            dec.conceal(Some(&packets[31]), Duration::ZERO).unwrap()
        } else if i == 40 {
            dec.conceal(None, Duration::ZERO).unwrap()
        } else {
            dec.decode(p, Duration::ZERO).unwrap()
        };
        assert_eq!(frame.samples.len(), 960);
        out.extend(frame.samples);
    }
    let f = dominant_frequency(&out[960 * 10..], 48_000).unwrap();
    assert!((f - 440.0).abs() < 5.0, "{f}");
}

#[test]
fn encoder_thread_drops_old_frames_and_obeys_controls() {
    let enc = video_encoder(
        VideoCodec::Vp8,
        EncoderSettings { width: 320, height: 240, fps: 30, bitrate_bps: 500_000, content: Content::Camera },
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let thread = EncoderThread::spawn(enc, 500_000, move |e| tx.send(e).unwrap());
    let pattern = TestPattern::new(320, 240, 30, false).unwrap();
    // A burst far faster than encoding: most frames are replaced in the slot, never queued.
    for n in 0..200 {
        thread.submit(pattern.render(n, 0, Duration::from_millis(n as u64 * 33)));
    }
    let control = thread.control();
    std::thread::sleep(Duration::from_millis(300));
    control.request_keyframe();
    control.set_bitrate(300_000);
    thread.submit(pattern.render(500, 0, Duration::from_secs(20)));
    thread.stop();
    let frames: Vec<EncodedVideo> = rx.try_iter().collect();
    let dropped = control.dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(frames.len() as u64 + dropped, 201, "every frame was encoded or dropped");
    assert!(dropped > 0);
    assert!(frames.last().unwrap().keyframe, "the requested keyframe");
}

fn feed_h264(enc: &mut h264::H264Encoder, at: &mut Duration, n: u32, every_ms: u64) {
    let pattern = TestPattern::new(160, 96, 30, false).unwrap();
    for i in 0..n {
        *at += Duration::from_millis(every_ms);
        enc.encode(&pattern.render(i, 0, *at), false).unwrap();
    }
}

#[test]
fn a_share_in_motion_trades_sharpness_for_frames_and_text_gets_it_back() {
    let settings = EncoderSettings { width: 160, height: 96, fps: 30, bitrate_bps: 300_000, content: Content::Screen };
    let mut enc = vp8::Vp8Encoder::new(settings).unwrap();
    let pattern = TestPattern::new(160, 96, 30, false).unwrap();
    let mut at = Duration::ZERO;
    let mut feed = |enc: &mut vp8::Vp8Encoder, n: u32, every: Duration| {
        for i in 0..n {
            at += every;
            enc.encode(&pattern.render(i, 0, at), false).unwrap();
        }
    };
    let text = enc.max_quantizer();
    feed(&mut enc, 10, Duration::from_millis(67));
    assert_eq!(enc.max_quantizer(), text, "text at 15 a second keeps the sharp ceiling");
    feed(&mut enc, 10, Duration::from_millis(33));
    assert!(enc.max_quantizer() > text, "motion at 30 a second may go coarser: {}", enc.max_quantizer());
    feed(&mut enc, 10, Duration::from_millis(200));
    assert_eq!(enc.max_quantizer(), text, "a still screen again");
    // openh264 budgets each frame for the rate the share comes at.
    let (mut h264, mut t) = (h264::H264Encoder::new(settings).unwrap(), Duration::ZERO);
    feed_h264(&mut h264, &mut t, 10, 67);
    assert_eq!(h264.budgeted_fps(), 15.0, "text");
    feed_h264(&mut h264, &mut t, 10, 33);
    assert_eq!(h264.budgeted_fps(), 30.0, "motion");
    feed_h264(&mut h264, &mut t, 10, 200);
    assert_eq!(h264.budgeted_fps(), 15.0, "still");
    // A camera never changes its ceiling.
    let camera = EncoderSettings { content: Content::Camera, ..settings };
    let mut cam = vp8::Vp8Encoder::new(camera).unwrap();
    let before = cam.max_quantizer();
    feed(&mut cam, 10, Duration::from_millis(33));
    assert_eq!(cam.max_quantizer(), before);
}
