//! `--snapshot`: a decoded I420 picture as a PNG (BT.601 limited range back to RGB, as the encoders' input
//! was made; chroma taken per 2×2 block).

use std::path::Path;

use tincan_media::VideoFrame;

/// The RGB pixels of a frame, row by row.
pub fn to_rgb(frame: &VideoFrame) -> Vec<u8> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (y, u, v) = (frame.y(), frame.u(), frame.v());
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for col in 0..w {
            let c = (row / 2) * (w / 2) + col / 2;
            let l = 298 * (y[row * w + col] as i32 - 16);
            let (d, e) = (u[c] as i32 - 128, v[c] as i32 - 128);
            let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
            rgb.extend_from_slice(&[clip(l + 409 * e), clip(l - 100 * d - 208 * e), clip(l + 516 * d)]);
        }
    }
    rgb
}

pub fn write_png(frame: &VideoFrame, path: &Path) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, frame.width, frame.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&to_rgb(frame))?;
    Ok(())
}
