//! Choosing a capture mode among what a camera offers: the wanted size and rate, or the nearest sensible one.
//! Rules, in order: a rate of at least 24 fps (or the best the camera has) beats any size — video calls
//! live on motion; then the size nearest the wanted one, preferring a little larger (scaled down later)
//! over smaller; then the rate nearest the wanted one; then MJPEG over YUYV/NV12 at 720p and above (USB 2
//! cannot carry uncompressed 720p30, so cameras offer it at 5–10 fps raw), the raw formats below (no
//! decode).

use serde::Serialize;

use super::convert::PixelFormat;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Mode {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Default for Wanted {
    fn default() -> Self {
        Wanted { width: 1280, height: 720, fps: 30 }
    }
}

const SMOOTH_FPS: u32 = 24;

pub fn choose(modes: &[Mode], wanted: Wanted) -> Option<Mode> {
    let best_fps = modes.iter().map(|m| m.fps).max()?;
    let smooth = SMOOTH_FPS.min(best_fps).min(wanted.fps);
    let area = (wanted.width * wanted.height) as f64;
    modes.iter().copied().min_by(|a, b| {
        let key = |m: &Mode| {
            let ratio = (m.width * m.height) as f64 / area;
            // Log distance, smaller sizes weighing double.
            let size = if ratio >= 1.0 { ratio.ln() } else { -2.0 * ratio.ln() };
            let fps = (m.fps as f64 - wanted.fps as f64).abs();
            let raw_at_hd = m.format != PixelFormat::Mjpeg && m.width * m.height >= 1280 * 720;
            let compressed_at_sd = m.format == PixelFormat::Mjpeg && m.width * m.height < 1280 * 720;
            (m.fps < smooth, (size * 100.0) as i64, fps as i64, raw_at_hd || compressed_at_sd)
        };
        key(a).cmp(&key(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use PixelFormat::*;

    fn m(format: PixelFormat, width: u32, height: u32, fps: u32) -> Mode {
        Mode { format, width, height, fps }
    }

    /// What a common USB webcam offers.
    fn webcam() -> Vec<Mode> {
        vec![
            m(Yuyv, 640, 480, 30),
            m(Yuyv, 1280, 720, 10),
            m(Yuyv, 1920, 1080, 5),
            m(Mjpeg, 640, 480, 30),
            m(Mjpeg, 1280, 720, 30),
            m(Mjpeg, 1920, 1080, 30),
            m(Yuyv, 320, 240, 30),
        ]
    }

    #[test]
    fn hd_comes_as_mjpeg_at_full_rate() {
        assert_eq!(choose(&webcam(), Wanted::default()), Some(m(Mjpeg, 1280, 720, 30)));
    }

    #[test]
    fn vga_comes_raw() {
        assert_eq!(choose(&webcam(), Wanted { width: 640, height: 480, fps: 30 }), Some(m(Yuyv, 640, 480, 30)));
    }

    #[test]
    fn a_camera_without_the_size_gives_the_nearest_larger_one_at_a_smooth_rate() {
        let modes = vec![m(Yuyv, 640, 480, 30), m(Yuyv, 1280, 720, 10), m(Mjpeg, 1920, 1080, 30)];
        // 720p30 is not offered: 1080p30 (scaled down later) beats 720p at 10 fps and 480p.
        assert_eq!(choose(&modes, Wanted::default()), Some(m(Mjpeg, 1920, 1080, 30)));
        // A slow camera: its best rate is what there is.
        let slow = vec![m(Nv12, 1280, 720, 15), m(Nv12, 640, 480, 15)];
        assert_eq!(choose(&slow, Wanted::default()), Some(m(Nv12, 1280, 720, 15)));
    }

    #[test]
    fn nothing_offered_is_nothing_chosen() {
        assert_eq!(choose(&[], Wanted::default()), None);
    }
}
