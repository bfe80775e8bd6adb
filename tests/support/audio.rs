//! Test signals and the measurements made on recordings of them: chirps found by cross-correlation (FFT),
//! energy over windows.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

pub const RATE: usize = 48_000;

/// A Hann-windowed linear chirp.
pub fn chirp(from_hz: f64, to_hz: f64, seconds: f64, amplitude: f64) -> Vec<f64> {
    let n = (seconds * RATE as f64) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let phase = 2.0 * std::f64::consts::PI * (from_hz * t + (to_hz - from_hz) * t * t / (2.0 * seconds));
            let window = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos();
            amplitude * window * phase.sin()
        })
        .collect()
}

/// Speech-like far-end: noise in syllables (4 per second) with pauses, deterministic.
pub fn babble(seconds: f64, amplitude: f64) -> Vec<f64> {
    let mut seed = 0x2545_f491u32;
    let mut low = 0.0;
    (0..(seconds * RATE as f64) as usize)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let white = seed as f64 / u32::MAX as f64 * 2.0 - 1.0;
            low = 0.7 * low + 0.3 * white; // tilt towards low frequencies, like voices
            let t = i as f64 / RATE as f64;
            let syllable = (2.0 * std::f64::consts::PI * 2.0 * t).sin().max(0.0);
            amplitude * 2.0 * low * syllable
        })
        .collect()
}

pub fn to_i16(s: &[f64]) -> Vec<i16> {
    s.iter().map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16).collect()
}

/// Mean power of `s[from..to]` (clamped to the recording).
pub fn power(s: &[i16], from: usize, to: usize) -> f64 {
    let (from, to) = (from.min(s.len()), to.min(s.len()));
    if to <= from {
        return 0.0;
    }
    s[from..to].iter().map(|v| (*v as f64 / 32768.0).powi(2)).sum::<f64>() / (to - from) as f64
}

/// Where `template` best matches inside `s[from..to]`: (start index in `s`, normalised correlation 0..1).
pub fn find(s: &[i16], template: &[f64], from: usize, to: usize) -> Option<(usize, f64)> {
    let (from, to) = (from.min(s.len()), to.min(s.len()));
    if to <= from + template.len() {
        return None;
    }
    let window: Vec<f64> = s[from..to].iter().map(|v| *v as f64 / 32768.0).collect();
    let n = (window.len() + template.len()).next_power_of_two();
    let mut planner = FftPlanner::<f64>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let mut a: Vec<Complex<f64>> = window.iter().map(|v| Complex::new(*v, 0.0)).collect();
    a.resize(n, Complex::default());
    let mut b: Vec<Complex<f64>> = template.iter().map(|v| Complex::new(*v, 0.0)).collect();
    b.resize(n, Complex::default());
    fwd.process(&mut a);
    fwd.process(&mut b);
    let mut c: Vec<Complex<f64>> = a.iter().zip(&b).map(|(x, y)| x * y.conj()).collect();
    inv.process(&mut c);
    let template_energy: f64 = template.iter().map(|v| v * v).sum();
    let mut prefix = vec![0.0; window.len() + 1];
    for (i, v) in window.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v * v;
    }
    let mut best: Option<(usize, f64)> = None;
    for lag in 0..window.len() - template.len() {
        let energy = prefix[lag + template.len()] - prefix[lag];
        if energy <= 0.0 {
            continue;
        }
        let score = c[lag].re / n as f64 / (energy * template_energy).sqrt();
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((from + lag, score));
        }
    }
    best
}
