//! Shrinking I420 frames, plane by plane, with `fast_image_resize` (SIMD convolution): a window that
//! shows a 1280x720 stream in a 740x416 box gets 740x416 pixels, not four times the bytes to upload and
//! scale on the way.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::{MediaError, Result, VideoFrame};

/// The even size that fits in `max_w`×`max_h` keeping the aspect ratio; never larger than the frame.
pub fn fitted_size(width: u32, height: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    let scale = (max_w as f64 / width as f64).min(max_h as f64 / height as f64).min(1.0);
    let even = |v: f64| ((v as u32) & !1).max(2);
    (even(width as f64 * scale), even(height as f64 * scale))
}

/// Scales frames; keeps its buffers between calls.
#[derive(Default)]
pub struct Scaler {
    resizer: Resizer,
}

impl Scaler {
    /// `frame` shrunk to fit `max_w`×`max_h` (the same frame, uncopied, if it already fits).
    pub fn fit(&mut self, frame: &VideoFrame, max_w: u32, max_h: u32) -> Result<VideoFrame> {
        let (w, h) = fitted_size(frame.width, frame.height, max_w, max_h);
        if (w, h) == (frame.width, frame.height) {
            return Ok(frame.clone());
        }
        let mut data = Vec::with_capacity(VideoFrame::i420_len(w, h));
        let planes = [
            (frame.y(), frame.width, frame.height, w, h),
            (frame.u(), frame.width / 2, frame.height / 2, w / 2, h / 2),
            (frame.v(), frame.width / 2, frame.height / 2, w / 2, h / 2),
        ];
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        for (plane, sw, sh, dw, dh) in planes {
            let src = ImageRef::new(sw, sh, plane, PixelType::U8).map_err(|e| MediaError::Scale(e.to_string()))?;
            let mut dst = Image::new(dw, dh, PixelType::U8);
            self.resizer.resize(&src, &mut dst, &options).map_err(|e| MediaError::Scale(e.to_string()))?;
            data.extend_from_slice(dst.buffer());
        }
        VideoFrame::from_i420(w, h, frame.timestamp, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::VideoSource;
    use crate::synthetic::{TestPattern, read_stamp};

    #[test]
    fn sizes_keep_the_aspect_and_stay_even() {
        assert_eq!(fitted_size(1280, 720, 740, 555), (740, 416));
        assert_eq!(fitted_size(640, 480, 1920, 1080), (640, 480));
        assert_eq!(fitted_size(640, 480, 160, 120), (160, 120));
        assert_eq!(fitted_size(640, 480, 1, 1), (2, 2));
    }

    #[test]
    fn a_halved_pattern_keeps_its_picture() {
        let mut pattern = TestPattern::new(640, 480, 30, false).unwrap();
        let frame = pattern.next_frame().unwrap();
        let mut scaler = Scaler::default();
        let same = scaler.fit(&frame, 1280, 720).unwrap();
        assert!(std::ptr::eq(same.data().as_ptr(), frame.data().as_ptr()), "no copy when it fits");
        let half = scaler.fit(&frame, 320, 240).unwrap();
        assert_eq!((half.width, half.height, half.data().len()), (320, 240, 320 * 240 * 3 / 2));
        // Each pixel of the half-size luma is close to the mean of its 2x2 source block, away from edges of
        // the pattern's features (compare means over the whole plane and one flat block).
        let mean = |p: &[u8]| p.iter().map(|&v| v as f64).sum::<f64>() / p.len() as f64;
        assert!((mean(half.y()) - mean(frame.y())).abs() < 2.0);
        assert!((mean(half.u()) - mean(frame.u())).abs() < 2.0);
        // A flat region stays flat and keeps its value: the stamp's first block (16x16, all one bit) becomes
        // an 8x8 block of the same brightness.
        let at = |f: &VideoFrame, x: usize, y: usize| f.y()[y * f.width as usize + x] as i32;
        assert!((at(&half, 4, 4) - at(&frame, 8, 8)).abs() <= 2, "{} vs {}", at(&half, 4, 4), at(&frame, 8, 8));
        assert!(read_stamp(&frame).is_some());
    }
}
