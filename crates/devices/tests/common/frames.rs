//! Camera-format frames made from I420 ones (what a camera would deliver), for fixtures and fake cameras.

#![allow(dead_code)]

use tincan_media::VideoFrame;

pub fn i420_to_yuyv(f: &VideoFrame) -> Vec<u8> {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut out = Vec::with_capacity(w * h * 2);
    for row in 0..h {
        for x in (0..w).step_by(2) {
            let c = (row / 2) * (w / 2) + x / 2;
            out.extend([f.y()[row * w + x], f.u()[c], f.y()[row * w + x + 1], f.v()[c]]);
        }
    }
    out
}

pub fn i420_to_nv12(f: &VideoFrame) -> Vec<u8> {
    let mut out = f.y().to_vec();
    for (u, v) in f.u().iter().zip(f.v()) {
        out.extend([*u, *v]);
    }
    out
}

/// A JPEG as USB cameras make them: YCbCr 4:2:2.
pub fn i420_to_jpeg(f: &VideoFrame, quality: u8) -> Vec<u8> {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut ycbcr = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for x in 0..w {
            let c = (row / 2) * (w / 2) + x / 2;
            ycbcr.extend([f.y()[row * w + x], f.u()[c], f.v()[c]]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_1);
    encoder.encode(&ycbcr, w as u16, h as u16, jpeg_encoder::ColorType::Ycbcr).expect("encoding a JPEG in memory");
    out
}

/// Luma PSNR (dB) between two frames of one size.
pub fn psnr(a: &VideoFrame, b: &VideoFrame) -> f64 {
    let mse = a.y().iter().zip(b.y()).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / a.y().len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64.powi(2) / mse).log10() }
}
