//! Measuring received audio.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// Root mean square level, 0..=1 of full scale.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64 / i16::MAX as f64).powi(2)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// The strongest frequency in `samples` (Hann window, FFT, parabolic interpolation between bins), or `None`
/// for silence (RMS under 0.1 % of full scale).
pub fn dominant_frequency(samples: &[i16], sample_rate: u32) -> Option<f64> {
    if samples.len() < 64 || rms(samples) < 0.001 {
        return None;
    }
    let n = samples.len();
    let mut buf: Vec<Complex<f64>> = samples
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (n - 1) as f64).cos();
            Complex::new(s as f64 * w, 0.0)
        })
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let mags: Vec<f64> = buf[..n / 2].iter().map(|c| c.norm()).collect();
    let (peak, _) = mags.iter().enumerate().skip(1).max_by(|a, b| a.1.total_cmp(b.1))?;
    let offset = if peak + 1 < mags.len() {
        let (a, b, c) = (mags[peak - 1], mags[peak], mags[peak + 1]);
        let denom = a - 2.0 * b + c;
        if denom.abs() > f64::EPSILON { 0.5 * (a - c) / denom } else { 0.0 }
    } else {
        0.0
    };
    Some((peak as f64 + offset) * sample_rate as f64 / n as f64)
}

/// The level of one frequency in `samples`, in dB of a full-scale sine (0 dBFS): the Goertzel filter over a
/// Hann window, so a tone 20 Hz away leaks far under it. `f64::NEG_INFINITY` for none at all.
pub fn tone_level_db(samples: &[i16], hz: f64, sample_rate: u32) -> f64 {
    let n = samples.len();
    if n < 2 {
        return f64::NEG_INFINITY;
    }
    let w = std::f64::consts::TAU * hz / sample_rate as f64;
    let coefficient = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for (i, &x) in samples.iter().enumerate() {
        let window = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (n - 1) as f64).cos();
        let s0 = x as f64 / i16::MAX as f64 * window + coefficient * s1 - s2;
        (s2, s1) = (s1, s0);
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    // A full-scale sine gives |X| = n/2 × the window's mean (0.5).
    let amplitude = power.max(0.0).sqrt() / (n as f64 / 4.0);
    20.0 * amplitude.log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{ToneSource, Waveform};
    use std::time::Duration;

    #[test]
    fn measures_the_level_of_each_tone_in_a_mix() {
        let mut loud = ToneSource::new(Waveform::Sine { hz: 1000.0 }, 0.5, false);
        let mut quiet = ToneSource::new(Waveform::Sine { hz: 440.0 }, 0.005, false);
        let samples: Vec<i16> = (0..50)
            .flat_map(|_| {
                let (a, b) = (loud.generate(Duration::ZERO), quiet.generate(Duration::ZERO));
                a.samples.iter().zip(&b.samples).map(|(x, y)| x + y).collect::<Vec<_>>()
            })
            .collect();
        let at = |hz| tone_level_db(&samples, hz, 48_000);
        assert!((at(1000.0) - -6.0).abs() < 0.5, "{}", at(1000.0));
        assert!((at(440.0) - -46.0).abs() < 1.0, "{}", at(440.0));
        assert!(at(300.0) < -80.0, "{}", at(300.0));
        assert_eq!(tone_level_db(&[], 440.0, 48_000), f64::NEG_INFINITY);
    }

    #[test]
    fn finds_the_tone() {
        for hz in [300.0, 440.0, 1000.0, 3150.0] {
            let mut tone = ToneSource::new(Waveform::Sine { hz }, 0.5, false);
            let samples: Vec<i16> = (0..10).flat_map(|_| tone.generate(Duration::ZERO).samples).collect();
            let f = dominant_frequency(&samples, 48_000).unwrap();
            assert!((f - hz).abs() < 2.0, "{hz} Hz read as {f}");
        }
        assert_eq!(dominant_frequency(&[0; 4800], 48_000), None);
    }

    #[test]
    fn chirp_sweeps() {
        let mut chirp = ToneSource::new(
            Waveform::Chirp { from_hz: 200.0, to_hz: 2000.0, period: Duration::from_secs(1) },
            0.5,
            false,
        );
        let first = chirp.generate(Duration::ZERO);
        for _ in 0..23 {
            chirp.generate(Duration::ZERO);
        }
        let late = chirp.generate(Duration::ZERO); // ~0.48 s in: ~1064 Hz
        let f0 = dominant_frequency(&first.samples, 48_000).unwrap();
        let f1 = dominant_frequency(&late.samples, 48_000).unwrap();
        assert!(f0 < 300.0 && (1000.0..1150.0).contains(&f1), "{f0} {f1}");
    }
}
