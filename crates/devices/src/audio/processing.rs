//! The microphone's voice processing: echo cancellation (AEC3), noise suppression and automatic gain control
//! from `sonora`, a Rust port of WebRTC's audio processing module (the C++ module's bindings do not build
//! offline here; `../shared/notes/audio-processing.md` has the comparison). One processor serves one call's
//! microphone (capture side) and speaker (render side: what is played is the far-end reference), so both hold
//! it; each side locks it for ~100 µs per 10 ms.

use std::sync::{Arc, Mutex};

use sonora::config::{AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, NoiseSuppression};
use sonora::{AudioProcessing, Config, StreamConfig};

use crate::{DeviceError, Result};

/// The processor works on 10 ms at 48 kHz.
pub const CHUNK: usize = 480;

/// Which stages run. All on is what calls use; tests and measurements turn stages off to compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Processing {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub gain_control: bool,
}

impl Default for Processing {
    fn default() -> Self {
        Processing { echo_cancellation: true, noise_suppression: true, gain_control: true }
    }
}

impl Processing {
    fn config(self) -> Config {
        Config {
            high_pass_filter: Some(HighPassFilter::default()),
            echo_canceller: self.echo_cancellation.then(EchoCanceller::default),
            noise_suppression: self.noise_suppression.then(NoiseSuppression::default),
            gain_controller2: self
                .gain_control
                .then(|| GainController2 { adaptive_digital: Some(AdaptiveDigital::default()), ..Default::default() }),
            ..Default::default()
        }
    }
}

/// What the echo canceller reports about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ProcessingStats {
    /// Echo return loss enhancement the canceller estimates (dB).
    pub erle_db: Option<f64>,
    /// The echo path delay it found (ms).
    pub delay_ms: Option<i32>,
}

/// Shared between a call's microphone and speaker.
#[derive(Clone)]
pub struct VoiceProcessor {
    apm: Arc<Mutex<AudioProcessing>>,
    /// Without echo cancellation the far end need not be analysed.
    echo_cancellation: bool,
}

impl VoiceProcessor {
    pub fn new(stages: Processing) -> Self {
        let apm = AudioProcessing::builder()
            .config(stages.config())
            .capture_config(StreamConfig::new(48_000, 1))
            .render_config(StreamConfig::new(48_000, 1))
            .build();
        VoiceProcessor { apm: Arc::new(Mutex::new(apm)), echo_cancellation: stages.echo_cancellation }
    }

    /// The far end, as it goes to the speaker (10 ms, 48 kHz, values in -1..1).
    pub fn render(&self, chunk: &[f32]) -> Result<()> {
        if !self.echo_cancellation {
            return Ok(());
        }
        let mut scratch = [0f32; CHUNK];
        let mut apm = self.apm.lock().map_err(|_| DeviceError::Processing("poisoned".into()))?;
        apm.process_render_f32(&[chunk], &mut [&mut scratch[..chunk.len()]])
            .map_err(|e| DeviceError::Processing(e.to_string()))
    }

    /// The microphone, cleaned in place (10 ms, 48 kHz).
    pub fn capture(&self, chunk: &mut [f32]) -> Result<()> {
        let input: [f32; CHUNK] = chunk.try_into().map_err(|_| DeviceError::Processing("not 10 ms".into()))?;
        let mut apm = self.apm.lock().map_err(|_| DeviceError::Processing("poisoned".into()))?;
        apm.process_capture_f32(&[&input], &mut [chunk]).map_err(|e| DeviceError::Processing(e.to_string()))
    }

    pub fn stats(&self) -> ProcessingStats {
        match self.apm.lock() {
            Ok(apm) => {
                let s = apm.statistics();
                ProcessingStats { erle_db: s.echo_return_loss_enhancement, delay_ms: s.delay_ms }
            }
            Err(_) => ProcessingStats::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A speech-like far end: noise bursts shaped like syllables.
    fn far_end(n: usize) -> Vec<f32> {
        let mut seed = 12345u32;
        (0..n)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                let syllable = ((i as f32 / 48_000.0 * 4.0 * std::f32::consts::PI).sin()).max(0.0);
                0.3 * noise * syllable
            })
            .collect()
    }

    fn energy(s: &[f32]) -> f64 {
        s.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / s.len().max(1) as f64
    }

    #[test]
    fn the_echo_of_the_far_end_is_removed_and_the_near_end_stays() {
        let p = VoiceProcessor::new(Processing { gain_control: false, ..Processing::default() });
        let seconds = 8;
        let far = far_end(48_000 * seconds);
        let delay = 48 * 60; // 60 ms echo path, -6 dB
        let mut residual = Vec::new();
        let mut echo_in = Vec::new();
        for (i, chunk) in far.chunks(CHUNK).enumerate() {
            p.render(chunk).unwrap();
            let start = i * CHUNK;
            let mut mic: Vec<f32> =
                (start..start + CHUNK).map(|t| if t >= delay { 0.5 * far[t - delay] } else { 0.0 }).collect();
            if i >= 200 {
                echo_in.extend_from_slice(&mic);
            }
            p.capture(&mut mic).unwrap();
            if i >= 200 {
                residual.extend_from_slice(&mic);
            }
        }
        let erle = 10.0 * (energy(&echo_in) / energy(&residual).max(1e-12)).log10();
        assert!(erle >= 20.0, "echo reduced by only {erle:.1} dB");
        // Double talk: a near-end tone over the echo still gets through.
        let mut near_in = Vec::new();
        let mut out = Vec::new();
        for (i, chunk) in far.chunks(CHUNK).take(200).enumerate() {
            p.render(chunk).unwrap();
            let near: Vec<f32> = (0..CHUNK)
                .map(|t| 0.2 * (2.0 * std::f32::consts::PI * 700.0 * (i * CHUNK + t) as f32 / 48_000.0).sin())
                .collect();
            let mut mic: Vec<f32> =
                (0..CHUNK).map(|t| near[t] + 0.5 * far[(i * CHUNK + t).saturating_sub(delay)]).collect();
            p.capture(&mut mic).unwrap();
            if i >= 100 {
                near_in.extend_from_slice(&near);
                out.extend_from_slice(&mic);
            }
        }
        let kept = 10.0 * (energy(&out) / energy(&near_in)).log10();
        assert!(kept > -10.0, "near-end speech lost {kept:.1} dB under double talk");
    }
}
