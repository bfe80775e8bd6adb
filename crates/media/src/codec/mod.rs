//! Video and audio codecs: H.264 (openh264, Constrained Baseline), VP8 (libvpx, realtime) and Opus.
//! Encoders take bitrate changes at runtime and make a keyframe on request; [`EncoderThread`] runs a
//! video encoder on a thread of its own, off the async runtime.

mod encoder_thread;
mod h264;
mod motion;
mod opus;
mod vp8;

use std::time::Duration;

pub use encoder_thread::{EncoderControl, EncoderThread};
pub use h264::{H264Decoder, H264Encoder};
pub use opus::{OpusDecoder, OpusEncoder};
pub use vp8::{Vp8Decoder, Vp8Encoder};

use crate::{Result, VideoFrame};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    Vp8,
    H264,
}

impl VideoCodec {
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "VP8",
            VideoCodec::H264 => "H264",
        }
    }
}

impl std::fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for VideoCodec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "vp8" => Ok(VideoCodec::Vp8),
            "h264" | "h.264" | "avc" => Ok(VideoCodec::H264),
            other => Err(format!("unknown video codec {other:?} (vp8 or h264)")),
        }
    }
}

/// One encoded video frame (an access unit: Annex-B for H.264, a VP8 frame).
#[derive(Clone, Debug)]
pub struct EncodedVideo {
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub timestamp: Duration,
}

pub trait VideoEncoder: Send {
    fn codec(&self) -> VideoCodec;
    /// Encode a frame; `None` when the encoder produced nothing for it.
    fn encode(&mut self, frame: &VideoFrame, keyframe: bool) -> Result<Option<EncodedVideo>>;
    /// Change the target bitrate (bits per second).
    fn set_bitrate(&mut self, bps: u32) -> Result<()>;
}

pub trait VideoDecoder: Send {
    fn codec(&self) -> VideoCodec;
    /// Decode one complete frame; `None` when it produced no picture (yet).
    fn decode(&mut self, data: &[u8], timestamp: Duration) -> Result<Option<VideoFrame>>;
}

/// What a video stream shows: encoders tune differently for a camera and for a screen (text, sharp edges,
/// long still spells).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Content {
    #[default]
    Camera,
    Screen,
}

/// Realtime encoder settings.
#[derive(Clone, Copy, Debug)]
pub struct EncoderSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_bps: u32,
    pub content: Content,
}

pub fn video_encoder(codec: VideoCodec, settings: EncoderSettings) -> Result<Box<dyn VideoEncoder>> {
    Ok(match codec {
        VideoCodec::Vp8 => Box::new(Vp8Encoder::new(settings)?),
        VideoCodec::H264 => Box::new(H264Encoder::new(settings)?),
    })
}

pub fn video_decoder(codec: VideoCodec) -> Result<Box<dyn VideoDecoder>> {
    Ok(match codec {
        VideoCodec::Vp8 => Box::new(Vp8Decoder::new()?),
        VideoCodec::H264 => Box::new(H264Decoder::new()?),
    })
}

#[cfg(test)]
mod tests;
