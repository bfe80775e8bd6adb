//! H.264 through openh264 (Cisco's encoder and decoder, built from source with its assembly when `nasm` is
//! installed). Baseline profile as openh264 writes it is Constrained Baseline (profile-level-id 42C0xx), which
//! every browser decodes.

use std::time::Duration;

use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile, RateControlMode,
    UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};
use openh264::{OpenH264API, Timestamp};
use openh264_sys2::{
    ENCODER_OPTION_BITRATE, ENCODER_OPTION_FRAME_RATE, ENCODER_OPTION_MAX_BITRATE, SBitrateInfo, SPATIAL_LAYER_0,
    SPATIAL_LAYER_ALL,
};

use super::motion::MotionWatch;
use super::{Content, EncodedVideo, EncoderSettings, VideoCodec, VideoDecoder, VideoEncoder};
use crate::{MediaError, Result, VideoFrame};

fn enc_err(e: impl std::fmt::Display) -> MediaError {
    MediaError::Encoder { codec: "H264", message: e.to_string() }
}

pub struct H264Encoder {
    encoder: Encoder,
    bitrate: u32,
    started: bool,
    /// A share: whether its frames come as motion (30 a second) or text (15), and the rate openh264 budgets for.
    watch: Option<MotionWatch>,
    rates: (f32, f32),
}

/// The frame rate openh264's rate control budgets each frame for (it does not follow the real rate): a share's
/// text and its motion.
const SCREEN_TEXT_FPS: f32 = 15.0;

impl H264Encoder {
    pub fn new(s: EncoderSettings) -> Result<Self> {
        let config = EncoderConfig::new()
            .usage_type(match s.content {
                Content::Camera => UsageType::CameraVideoRealTime,
                Content::Screen => UsageType::ScreenContentRealTime,
            })
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(s.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(match s.content {
                // A share starts as text; motion raises it (see `follow_motion`).
                Content::Screen => (s.fps as f32).min(SCREEN_TEXT_FPS),
                Content::Camera => s.fps as f32,
            }))
            .profile(Profile::Baseline)
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            .complexity(Complexity::Low)
            // Frame skipping is what lets openh264 actually hold the bitrate (it warns otherwise).
            .skip_frames(true)
            .num_threads(1);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config).map_err(enc_err)?;
        let screen = s.content == Content::Screen;
        let rates = ((s.fps as f32).min(SCREEN_TEXT_FPS), s.fps as f32);
        Ok(H264Encoder { encoder, bitrate: s.bitrate_bps, started: false, watch: screen.then(MotionWatch::new), rates })
    }

    /// The frame rate openh264 budgets each frame for (tests).
    pub fn budgeted_fps(&mut self) -> f32 {
        let mut fps = 0f32;
        // SAFETY: the option writes a float that lives for the call.
        unsafe { self.encoder.raw_api().get_option(ENCODER_OPTION_FRAME_RATE, (&mut fps as *mut f32).cast()) };
        fps
    }

    /// A share that turned to motion or back: the rate openh264 budgets for follows (kept if it refuses).
    fn follow_motion(&mut self, motion: bool) {
        let mut fps = if motion { self.rates.1 } else { self.rates.0 };
        // SAFETY: the option takes a pointer to a float that lives for the call.
        let rc = unsafe { self.encoder.raw_api().set_option(ENCODER_OPTION_FRAME_RATE, (&mut fps as *mut f32).cast()) };
        if rc != 0 {
            tracing::warn!("openh264 kept its frame rate ({rc})");
        }
    }

    /// openh264 checks the target against a per-layer maximum that starts at the initial bitrate: raise the
    /// maximum first when going up, lower it last when going down.
    fn apply_bitrate(&mut self, new: u32, old: u32) -> Result<()> {
        let bps = new.min(i32::MAX as u32) as i32;
        let mut max = SBitrateInfo { iLayer: SPATIAL_LAYER_0, iBitrate: bps };
        let mut target = SBitrateInfo { iLayer: SPATIAL_LAYER_ALL, iBitrate: bps };
        let steps = if new > old {
            [(ENCODER_OPTION_MAX_BITRATE, &mut max), (ENCODER_OPTION_BITRATE, &mut target)]
        } else {
            [(ENCODER_OPTION_BITRATE, &mut target), (ENCODER_OPTION_MAX_BITRATE, &mut max)]
        };
        for (option, info) in steps {
            // SAFETY: the option takes a pointer to an SBitrateInfo that lives for the call.
            let rc = unsafe { self.encoder.raw_api().set_option(option, (info as *mut SBitrateInfo).cast()) };
            if rc != 0 {
                return Err(enc_err(format!("set bitrate {new} failed ({rc})")));
            }
        }
        Ok(())
    }
}

impl VideoEncoder for H264Encoder {
    fn codec(&self) -> VideoCodec {
        VideoCodec::H264
    }

    fn encode(&mut self, frame: &VideoFrame, keyframe: bool) -> Result<Option<EncodedVideo>> {
        let (w, h) = (frame.width as usize, frame.height as usize);
        let yuv = YUVSlices::new((frame.y(), frame.u(), frame.v()), (w, h), (w, w / 2, w / 2));
        if keyframe && self.started {
            self.encoder.force_intra_frame();
        }
        // openh264 starts lazily: a change before its first frame would be lost, so it waits for one.
        if self.started
            && let Some(motion) = self.watch.as_mut().and_then(|w| w.frame(frame.timestamp))
        {
            self.follow_motion(motion);
        }
        let ts = Timestamp::from_millis(frame.timestamp.as_millis() as u64);
        let stream = self.encoder.encode_at(&yuv, ts).map_err(enc_err)?;
        let kind = stream.frame_type();
        let data = stream.to_vec();
        self.started = true;
        if data.is_empty() || kind == FrameType::Skip {
            return Ok(None);
        }
        Ok(Some(EncodedVideo { data, keyframe: kind == FrameType::IDR, timestamp: frame.timestamp }))
    }

    fn set_bitrate(&mut self, bps: u32) -> Result<()> {
        let bps = bps.clamp(50_000, 20_000_000);
        if bps == self.bitrate {
            return Ok(());
        }
        if self.started {
            self.apply_bitrate(bps, self.bitrate)?;
        }
        // Before the first frame the value is only remembered: openh264 initialises lazily.
        self.bitrate = bps;
        Ok(())
    }
}

pub struct H264Decoder {
    decoder: Decoder,
}

impl H264Decoder {
    pub fn new() -> Result<Self> {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| MediaError::Decoder { codec: "H264", message: e.to_string() })?;
        Ok(H264Decoder { decoder })
    }
}

impl VideoDecoder for H264Decoder {
    fn codec(&self) -> VideoCodec {
        VideoCodec::H264
    }

    fn decode(&mut self, data: &[u8], timestamp: Duration) -> Result<Option<VideoFrame>> {
        let decoded =
            self.decoder.decode(data).map_err(|e| MediaError::Decoder { codec: "H264", message: e.to_string() })?;
        let Some(yuv) = decoded else { return Ok(None) };
        let (w, h) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        VideoFrame::from_planes(w as u32, h as u32, timestamp, yuv.y(), sy, yuv.u(), su, yuv.v(), sv).map(Some)
    }
}
