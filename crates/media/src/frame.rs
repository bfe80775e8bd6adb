//! Raw media frames.

use std::sync::Arc;
use std::time::Duration;

use crate::{MediaError, Result};

/// Audio sample rate everywhere inside Tincan (Opus's native rate).
pub const SAMPLE_RATE: u32 = 48_000;
/// One audio frame is 20 ms (Opus's usual frame).
pub const AUDIO_FRAME_SAMPLES: usize = 960;

/// An I420 (YUV 4:2:0 planar) frame: a `width`×`height` luma plane, then two half-size chroma planes, packed
/// without padding. Width and height are even. The buffer is shared, so handing a frame to several
/// consumers (encoder, local preview) copies nothing.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    /// Media time since the start of the stream (drives RTP timestamps).
    pub timestamp: Duration,
    data: Arc<[u8]>,
}

impl VideoFrame {
    pub fn i420_len(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * (w / 2) * (h / 2)
    }

    fn check_size(width: u32, height: u32) -> Result<()> {
        if width == 0 || height == 0 || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(MediaError::FrameSize { width, height, reason: "width and height must be even and non-zero" });
        }
        if width > 7680 || height > 4320 {
            return Err(MediaError::FrameSize { width, height, reason: "larger than 8K" });
        }
        Ok(())
    }

    /// Wrap a packed I420 buffer.
    pub fn from_i420(width: u32, height: u32, timestamp: Duration, data: impl Into<Arc<[u8]>>) -> Result<Self> {
        Self::check_size(width, height)?;
        let data = data.into();
        let expected = Self::i420_len(width, height);
        if data.len() != expected {
            return Err(MediaError::BufferSize { width, height, expected, got: data.len() });
        }
        Ok(VideoFrame { width, height, timestamp, data })
    }

    /// Copy planes with arbitrary strides (as decoders hand them out) into a packed frame.
    #[allow(clippy::too_many_arguments)]
    pub fn from_planes(
        width: u32,
        height: u32,
        timestamp: Duration,
        y: &[u8],
        y_stride: usize,
        u: &[u8],
        u_stride: usize,
        v: &[u8],
        v_stride: usize,
    ) -> Result<Self> {
        Self::check_size(width, height)?;
        let (w, h) = (width as usize, height as usize);
        let mut data = Vec::with_capacity(Self::i420_len(width, height));
        let mut copy = |plane: &[u8], stride: usize, pw: usize, ph: usize| -> Result<()> {
            for row in 0..ph {
                let line = plane.get(row * stride..row * stride + pw).ok_or(MediaError::BufferSize {
                    width,
                    height,
                    expected: stride * ph,
                    got: plane.len(),
                })?;
                data.extend_from_slice(line);
            }
            Ok(())
        };
        copy(y, y_stride, w, h)?;
        copy(u, u_stride, w / 2, h / 2)?;
        copy(v, v_stride, w / 2, h / 2)?;
        Ok(VideoFrame { width, height, timestamp, data: data.into() })
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The buffer to write into, if no one else holds this frame (a source can then reuse it for its next
    /// frame instead of allocating one).
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        Arc::get_mut(&mut self.data)
    }

    pub fn y(&self) -> &[u8] {
        &self.data[..self.width as usize * self.height as usize]
    }

    pub fn u(&self) -> &[u8] {
        let y = self.width as usize * self.height as usize;
        &self.data[y..y + y / 4]
    }

    pub fn v(&self) -> &[u8] {
        let y = self.width as usize * self.height as usize;
        &self.data[y + y / 4..]
    }
}

/// 20 ms of 48 kHz mono audio as signed 16-bit samples.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioFrame {
    /// Media time since the start of the stream.
    pub timestamp: Duration,
    pub samples: Vec<i16>,
}

impl AudioFrame {
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / SAMPLE_RATE as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_are_where_i420_puts_them() {
        let mut data = vec![1u8; 4 * 2];
        data.extend([2u8; 2]);
        data.extend([3u8; 2]);
        let f = VideoFrame::from_i420(4, 2, Duration::ZERO, data).unwrap();
        assert_eq!((f.y(), f.u(), f.v()), (&[1u8; 8][..], &[2u8; 2][..], &[3u8; 2][..]));
    }

    #[test]
    fn strided_planes_are_packed() {
        let y: Vec<u8> = (0..4 * 8).map(|i| i as u8).collect(); // 4 rows, stride 8, width 4
        let u = [9u8; 2 * 4];
        let f = VideoFrame::from_planes(4, 4, Duration::ZERO, &y, 8, &u, 4, &u, 4).unwrap();
        assert_eq!(&f.y()[..8], &[0, 1, 2, 3, 8, 9, 10, 11]);
        assert_eq!(f.u(), &[9, 9, 9, 9]);
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        assert!(VideoFrame::from_i420(3, 2, Duration::ZERO, vec![0; 9]).is_err());
        assert!(matches!(
            VideoFrame::from_i420(4, 2, Duration::ZERO, vec![0; 5]),
            Err(MediaError::BufferSize { expected: 12, got: 5, .. })
        ));
        assert!(VideoFrame::from_planes(4, 4, Duration::ZERO, &[0; 3], 4, &[0; 4], 2, &[0; 4], 2).is_err());
    }
}
