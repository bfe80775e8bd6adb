//! What cameras deliver → I420, the encoders' format. One pass per frame, writing straight into the packed
//! I420 buffer the frame keeps (no intermediate planes): YUYV (4:2:2 packed) averages each two rows' chroma;
//! NV12 (4:2:0, interleaved chroma) splits the chroma plane; MJPEG is decoded by zune-jpeg straight to
//! YCbCr (skipping the RGB round trip a camera library's "decode" would do) and its chroma averaged 2×2.
//! These loops are a few lines each; a SIMD library (yuvutils-rs) would be faster but brings a large API for
//! three conversions — worth it if capture-to-send shows them (see the camera bench).

use std::time::Duration;

use serde::Serialize;
use tincan_media::VideoFrame;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use crate::{DeviceError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    Mjpeg,
    Yuyv,
    Nv12,
}

impl PixelFormat {
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Nv12 => "NV12",
        }
    }
}

/// One frame as the device delivered it.
#[derive(Clone, Debug)]
pub struct RawFrame {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RawFrame {
    pub fn to_i420(&self, timestamp: Duration) -> Result<VideoFrame> {
        match self.format {
            PixelFormat::Yuyv => yuyv_to_i420(&self.data, self.width, self.height, timestamp),
            PixelFormat::Nv12 => nv12_to_i420(&self.data, self.width, self.height, timestamp),
            PixelFormat::Mjpeg => mjpeg_to_i420(&self.data, timestamp),
        }
    }
}

fn error(format: PixelFormat, width: u32, height: u32, message: impl Into<String>) -> DeviceError {
    DeviceError::Format { format: format.name(), width, height, message: message.into() }
}

/// Odd sizes lose their last row/column: I420 wants even ones.
fn even(width: u32, height: u32) -> (usize, usize) {
    ((width & !1) as usize, (height & !1) as usize)
}

fn frame(width: usize, height: usize, timestamp: Duration, data: Vec<u8>, format: PixelFormat) -> Result<VideoFrame> {
    VideoFrame::from_i420(width as u32, height as u32, timestamp, data)
        .map_err(|e| error(format, width as u32, height as u32, e.to_string()))
}

pub fn yuyv_to_i420(data: &[u8], width: u32, height: u32, timestamp: Duration) -> Result<VideoFrame> {
    let (w, h) = even(width, height);
    let stride = width as usize * 2;
    if w == 0 || h == 0 || data.len() < stride * height as usize {
        return Err(error(PixelFormat::Yuyv, width, height, format!("{} bytes is too short", data.len())));
    }
    let mut out = vec![0u8; VideoFrame::i420_len(w as u32, h as u32)];
    let (y, chroma) = out.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut(w * h / 4);
    for row in 0..h {
        let line = &data[row * stride..row * stride + w * 2];
        for (x, px) in line.chunks_exact(2).enumerate() {
            y[row * w + x] = px[0];
        }
    }
    for row in 0..h / 2 {
        let (a, b) = (&data[2 * row * stride..], &data[(2 * row + 1) * stride..]);
        for x in 0..w / 2 {
            let i = x * 4;
            u[row * w / 2 + x] = (a[i + 1] as u16 + b[i + 1] as u16).div_ceil(2) as u8;
            v[row * w / 2 + x] = (a[i + 3] as u16 + b[i + 3] as u16).div_ceil(2) as u8;
        }
    }
    frame(w, h, timestamp, out, PixelFormat::Yuyv)
}

pub fn nv12_to_i420(data: &[u8], width: u32, height: u32, timestamp: Duration) -> Result<VideoFrame> {
    let (w, h) = even(width, height);
    let (sw, sh) = (width as usize, height as usize);
    let need = sw * sh + sw.div_ceil(2) * 2 * sh.div_ceil(2);
    if w == 0 || h == 0 || data.len() < need {
        return Err(error(PixelFormat::Nv12, width, height, format!("{} bytes is too short", data.len())));
    }
    let mut out = Vec::with_capacity(VideoFrame::i420_len(w as u32, h as u32));
    for row in 0..h {
        out.extend_from_slice(&data[row * sw..row * sw + w]);
    }
    let uv = &data[sw * sh..];
    let uv_stride = sw.div_ceil(2) * 2;
    for plane in 0..2 {
        for row in 0..h / 2 {
            out.extend(uv[row * uv_stride..row * uv_stride + w].iter().skip(plane).step_by(2));
        }
    }
    frame(w, h, timestamp, out, PixelFormat::Nv12)
}

pub fn mjpeg_to_i420(data: &[u8], timestamp: Duration) -> Result<VideoFrame> {
    // A frame cut short (USB hiccup) would decode "fine" with its lower part grey: without its end-of-image
    // marker it is dropped instead. Some cameras pad frames with zeros after the marker.
    let end = data.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    if end < 4 || data[end - 2..end] != [0xff, 0xd9] {
        return Err(error(
            PixelFormat::Mjpeg,
            0,
            0,
            format!("truncated: {} bytes without an end-of-image marker", data.len()),
        ));
    }
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    let pixels = decoder.decode().map_err(|e| error(PixelFormat::Mjpeg, 0, 0, e.to_string()))?;
    let info = decoder.info().ok_or_else(|| error(PixelFormat::Mjpeg, 0, 0, "no image information"))?;
    let (width, height) = (info.width as u32, info.height as u32);
    let components = match decoder.output_colorspace() {
        Some(ColorSpace::YCbCr) => 3,
        Some(ColorSpace::Luma) => 1,
        other => return Err(error(PixelFormat::Mjpeg, width, height, format!("decoded to {other:?}, not YCbCr"))),
    };
    let (w, h) = even(width, height);
    let stride = width as usize * components;
    if w == 0 || h == 0 || pixels.len() < stride * height as usize {
        return Err(error(PixelFormat::Mjpeg, width, height, "decoded image is short"));
    }
    let mut out = vec![128u8; VideoFrame::i420_len(w as u32, h as u32)];
    let (y, chroma) = out.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut(w * h / 4);
    for row in 0..h {
        let line = &pixels[row * stride..];
        for x in 0..w {
            y[row * w + x] = line[x * components];
        }
    }
    if components == 3 {
        for row in 0..h / 2 {
            let (a, b) = (&pixels[2 * row * stride..], &pixels[(2 * row + 1) * stride..]);
            for x in 0..w / 2 {
                let (i, j) = (2 * x * 3, (2 * x + 1) * 3);
                let avg =
                    |k: usize| ((a[i + k] as u16 + a[j + k] as u16 + b[i + k] as u16 + b[j + k] as u16 + 2) / 4) as u8;
                u[row * w / 2 + x] = avg(1);
                v[row * w / 2 + x] = avg(2);
            }
        }
    }
    frame(w, h, timestamp, out, PixelFormat::Mjpeg)
}
