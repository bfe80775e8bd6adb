//! Media files for a browser's fake devices: Chromium plays a Y4M file as its camera and a WAV file as its
//! microphone (in a loop), so what the engine decodes can be checked for what was sent.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use tincan_media::synthetic::TestPattern;

/// `frames` of the stamped test pattern (counters 0…frames-1) as a 30 fps Y4M file.
pub fn pattern_y4m(path: &Path, width: u32, height: u32, frames: u32) -> anyhow::Result<()> {
    let pattern = TestPattern::new(width, height, 30, false)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg")?;
    for n in 0..frames {
        let frame = pattern.render(n, 0, Duration::from_millis(n as u64 * 33));
        out.write_all(b"FRAME\n")?;
        out.write_all(frame.y())?;
        out.write_all(frame.u())?;
        out.write_all(frame.v())?;
    }
    out.flush()?;
    Ok(())
}

/// A sine of `hz` at half scale: 16-bit mono 48 kHz WAV.
pub fn tone_wav(path: &Path, hz: f64, seconds: f64) -> anyhow::Result<()> {
    let rate = 48_000u32;
    let samples = (rate as f64 * seconds) as u32;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"RIFF")?;
    out.write_all(&(36 + samples * 2).to_le_bytes())?;
    out.write_all(b"WAVEfmt ")?;
    out.write_all(&16u32.to_le_bytes())?;
    out.write_all(&1u16.to_le_bytes())?; // PCM
    out.write_all(&1u16.to_le_bytes())?; // mono
    out.write_all(&rate.to_le_bytes())?;
    out.write_all(&(rate * 2).to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&16u16.to_le_bytes())?;
    out.write_all(b"data")?;
    out.write_all(&(samples * 2).to_le_bytes())?;
    for i in 0..samples {
        let v = (std::f64::consts::TAU * hz * i as f64 / rate as f64).sin() * 0.5 * i16::MAX as f64;
        out.write_all(&(v as i16).to_le_bytes())?;
    }
    out.flush()?;
    Ok(())
}
