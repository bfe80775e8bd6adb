//! Tones and chirps whose frequency can be checked after a trip through Opus and the network.

use std::f64::consts::TAU;
use std::time::Duration;

use super::FrameClock;
use crate::frame::{AUDIO_FRAME_SAMPLES, SAMPLE_RATE};
use crate::source::AudioSource;
use crate::{AudioFrame, Result};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Waveform {
    Sine {
        hz: f64,
    },
    /// A linear sweep from `from_hz` to `to_hz` over `period`, repeated.
    Chirp {
        from_hz: f64,
        to_hz: f64,
        period: Duration,
    },
}

pub struct ToneSource {
    waveform: Waveform,
    amplitude: f64,
    phase: f64,
    sample: u64,
    clock: FrameClock,
}

impl ToneSource {
    /// `amplitude` in 0..=1 of full scale; `paced` as for the test pattern.
    pub fn new(waveform: Waveform, amplitude: f64, paced: bool) -> Self {
        ToneSource {
            waveform,
            amplitude: amplitude.clamp(0.0, 1.0),
            phase: 0.0,
            sample: 0,
            clock: FrameClock::new(Duration::from_millis(20), paced),
        }
    }

    fn frequency_at(&self, sample: u64) -> f64 {
        match self.waveform {
            Waveform::Sine { hz } => hz,
            Waveform::Chirp { from_hz, to_hz, period } => {
                let period_samples = (period.as_secs_f64() * SAMPLE_RATE as f64).max(1.0);
                let x = (sample as f64 % period_samples) / period_samples;
                from_hz + (to_hz - from_hz) * x
            }
        }
    }

    /// The next 20 ms, without waiting.
    pub fn generate(&mut self, timestamp: Duration) -> AudioFrame {
        let mut samples = Vec::with_capacity(AUDIO_FRAME_SAMPLES);
        for _ in 0..AUDIO_FRAME_SAMPLES {
            let f = self.frequency_at(self.sample);
            samples.push((self.phase.sin() * self.amplitude * i16::MAX as f64) as i16);
            self.phase = (self.phase + TAU * f / SAMPLE_RATE as f64) % TAU;
            self.sample += 1;
        }
        AudioFrame { timestamp, samples }
    }
}

impl AudioSource for ToneSource {
    fn next_frame(&mut self) -> Result<AudioFrame> {
        let (_, timestamp) = self.clock.tick();
        Ok(self.generate(timestamp))
    }

    fn describe(&self) -> String {
        match self.waveform {
            Waveform::Sine { hz } => format!("tone {hz} Hz"),
            Waveform::Chirp { from_hz, to_hz, .. } => format!("chirp {from_hz}–{to_hz} Hz"),
        }
    }
}
