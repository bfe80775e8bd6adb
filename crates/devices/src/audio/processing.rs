//! The microphone's voice processing: echo cancellation (AEC3), noise suppression and automatic gain control
//! from `sonora`, a Rust port of WebRTC's audio processing module (the C++ module's bindings do not build
//! offline here; `../shared/notes/audio-processing.md` has the comparison). One processor serves one call's
//! microphone (capture side) and speaker (render side: what is played is the far-end reference), so both hold
//! it.
//!
//! The speaker's callback only queues what it plays ([`VoiceProcessor::render`]); the microphone's thread
//! feeds the queue to the canceller before each 10 ms of microphone audio ([`VoiceProcessor::capture`]). So
//! the speaker's thread, which must never wait, does no processing and takes no lock the processing holds,
//! and the canceller gets both inputs on one thread; its render buffer rides out their coming bunched (the
//! busy-threads test below). What it cannot ride out is either stream losing time: a speaker that runs dry
//! plays silence it was not told of, and microphone audio cut before it is processed shifts the echo's delay
//! (each costs a second or two of echo while the delay is found again). So the audio threads run at raised
//! or real-time priority (`priority.rs`), and the microphone cuts latency only after processing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use sonora::config::{AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, NoiseSuppression};
use sonora::{AudioProcessing, Config, StreamConfig};

pub use tincan_media::voice::ProcessingStats;
use tincan_media::voice::VoiceMonitor;

use crate::{DeviceError, Result};

/// The processor works on 10 ms at 48 kHz.
pub const CHUNK: usize = 480;
/// Far-end chunks queued for the microphone's thread at most (without a microphone nobody takes them, and
/// memory must not grow); the oldest go first.
const FAR_QUEUE: usize = 100;
/// More than this waiting when the microphone's thread comes is older than any bunching (no microphone
/// until now, or its thread stalled): only the newest this many are fed, so the canceller does not get a
/// second of stale far end in one go.
const FAR_FEED_MAX: usize = 30;

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

/// How the two inputs have come, and what the delay estimate did.
#[derive(Default)]
struct Feeding {
    far_run: u64,
    near_run: u64,
    near_chunks: u64,
    last_delay: Option<i32>,
    stats: ProcessingStats,
}

impl Feeding {
    const LOOK_EVERY: u64 = 50;
    const SETTLED_AFTER: u64 = 300;

    fn far(&mut self) {
        self.near_run = 0;
        self.far_run += 1;
        self.stats.longest_far_run = self.stats.longest_far_run.max(self.far_run);
    }

    fn near(&mut self, apm: &AudioProcessing) {
        self.far_run = 0;
        self.near_run += 1;
        self.stats.longest_near_run = self.stats.longest_near_run.max(self.near_run);
        self.near_chunks += 1;
        if self.near_chunks.is_multiple_of(Self::LOOK_EVERY) && self.near_chunks >= Self::SETTLED_AFTER {
            let now = apm.statistics();
            tracing::debug!(
                erle = ?now.echo_return_loss_enhancement,
                erl = ?now.echo_return_loss,
                delay = ?now.delay_ms,
                residual_echo = ?now.residual_echo_likelihood,
                "echo canceller"
            );
            let Some(delay) = now.delay_ms else { return };
            let s = &mut self.stats;
            s.delay_min_ms = Some(s.delay_min_ms.map_or(delay, |d| d.min(delay)));
            s.delay_max_ms = Some(s.delay_max_ms.map_or(delay, |d| d.max(delay)));
            if self.last_delay.is_some_and(|d| (d - delay).abs() > 4) {
                s.delay_moves += 1;
                tracing::debug!("echo delay estimate moved to {delay} ms");
            }
            self.last_delay = Some(delay);
        }
    }
}

struct Inner {
    apm: AudioProcessing,
    feeding: Feeding,
}

type FarChunk = [f32; CHUNK];
type FarQueue = Mutex<VecDeque<FarChunk>>;

/// Shared between a call's microphone and speaker.
#[derive(Clone)]
pub struct VoiceProcessor {
    inner: Arc<Mutex<Inner>>,
    far: Arc<FarQueue>,
    /// Other processors that cancel the same far end from another capture ([`VoiceProcessor::follower`]):
    /// each gets a copy of what the speaker plays while it lives.
    followers: Arc<Mutex<Vec<Weak<FarQueue>>>>,
    far_dropped: Arc<std::sync::atomic::AtomicU64>,
    /// Without echo cancellation the far end need not be analysed.
    echo_cancellation: bool,
}

impl VoiceProcessor {
    pub fn new(stages: Processing) -> Self {
        Self::with_config(stages.config(), stages.echo_cancellation)
    }

    fn with_config(config: Config, echo_cancellation: bool) -> Self {
        let apm = AudioProcessing::builder()
            .config(config)
            .capture_config(StreamConfig::new(48_000, 1))
            .render_config(StreamConfig::new(48_000, 1))
            .build();
        let inner = Inner { apm, feeding: Feeding::default() };
        VoiceProcessor {
            inner: Arc::new(Mutex::new(inner)),
            far: Arc::new(Mutex::new(VecDeque::with_capacity(FAR_QUEUE))),
            followers: Arc::default(),
            far_dropped: Arc::default(),
            echo_cancellation,
        }
    }

    /// An echo canceller (only: no noise suppression, gain control or high-pass, which would spoil music)
    /// for another capture that hears what this processor's speaker plays: the computer's own sound, whose
    /// monitor carries our playback sample for sample. It gets a copy of the far end from now on, for as
    /// long as it lives.
    pub fn follower(&self) -> VoiceProcessor {
        // AEC3 turns its high-pass filter on unless told not to.
        let echo = EchoCanceller { enforce_high_pass_filtering: false, ..Default::default() };
        let config = Config { echo_canceller: Some(echo), ..Default::default() };
        let follower = Self::with_config(config, true);
        if let Ok(mut list) = self.followers.lock() {
            list.push(Arc::downgrade(&follower.far));
        }
        follower
    }

    /// The far end, as it goes to the speaker (10 ms, 48 kHz, values in -1..1). Only queued: the
    /// microphone's thread feeds it to the canceller.
    pub fn render(&self, chunk: &[f32]) -> Result<()> {
        let chunk: [f32; CHUNK] = chunk.try_into().map_err(|_| DeviceError::Processing("not 10 ms".into()))?;
        if let Ok(mut list) = self.followers.try_lock()
            && !list.is_empty()
        {
            // try_lock on the list: the speaker's thread does not wait for a follower being added (it misses
            // its first chunk). A queue's lock is held only to push or pop one chunk, as the processor's own;
            // a chunk skipped there would shift the follower's echo delay.
            list.retain(|f| match f.upgrade() {
                Some(queue) => {
                    if let Ok(mut far) = queue.lock() {
                        if far.len() >= FAR_QUEUE {
                            far.pop_front();
                        }
                        far.push_back(chunk);
                    }
                    true
                }
                None => false,
            });
        }
        if !self.echo_cancellation {
            return Ok(());
        }
        let mut far = self.far.lock().map_err(|_| DeviceError::Processing("poisoned".into()))?;
        if far.len() >= FAR_QUEUE {
            far.pop_front();
            self.far_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        far.push_back(chunk);
        Ok(())
    }

    /// The microphone, cleaned in place (10 ms, 48 kHz).
    pub fn capture(&self, chunk: &mut [f32]) -> Result<()> {
        let input: [f32; CHUNK] = chunk.try_into().map_err(|_| DeviceError::Processing("not 10 ms".into()))?;
        let mut inner = self.inner.lock().map_err(|_| DeviceError::Processing("poisoned".into()))?;
        let Inner { apm, feeding } = &mut *inner;
        if self.echo_cancellation {
            self.feed_far_end(apm, feeding)?;
        }
        apm.process_capture_f32(&[&input], &mut [chunk]).map_err(|e| DeviceError::Processing(e.to_string()))?;
        feeding.near(apm);
        Ok(())
    }

    /// Feed what the speaker queued, in order.
    fn feed_far_end(&self, apm: &mut AudioProcessing, feeding: &mut Feeding) -> Result<()> {
        let mut scratch = [0f32; CHUNK];
        {
            let mut far = self.far.lock().map_err(|_| DeviceError::Processing("poisoned".into()))?;
            let stale = far.len().saturating_sub(FAR_FEED_MAX);
            if stale > 0 {
                far.drain(..stale);
                self.far_dropped.fetch_add(stale as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
        loop {
            let chunk = self.far.lock().map_err(|_| DeviceError::Processing("poisoned".into()))?.pop_front();
            let Some(chunk) = chunk else { return Ok(()) };
            feeding.far();
            apm.process_render_f32(&[&chunk], &mut [&mut scratch])
                .map_err(|e| DeviceError::Processing(e.to_string()))?;
        }
    }

    pub fn stats(&self) -> ProcessingStats {
        match self.inner.lock() {
            Ok(inner) => {
                let s = inner.apm.statistics();
                ProcessingStats {
                    erle_db: s.echo_return_loss_enhancement,
                    delay_ms: s.delay_ms,
                    divergent: s.divergent_filter_fraction,
                    far_dropped_ms: self.far_dropped.load(std::sync::atomic::Ordering::Relaxed) as f64 * 10.0,
                    ..inner.feeding.stats
                }
            }
            Err(_) => ProcessingStats::default(),
        }
    }
}

/// The call's stats read the processor through the engine's side of the trait.
impl VoiceMonitor for VoiceProcessor {
    fn stats(&self) -> ProcessingStats {
        VoiceProcessor::stats(self)
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

    /// The computer's sound (a monitor that carries what the speaker plays, 30 ms later, beside music of
    /// its own): a follower removes the speaker's part and keeps the rest; dropped, it is let go.
    #[test]
    fn a_follower_cancels_the_same_far_end_from_another_capture() {
        let p = VoiceProcessor::new(Processing::default());
        let follower = p.follower();
        let far = far_end(48_000 * 6);
        let delay = 48 * 30;
        // Bass too: no high-pass may take it.
        let music = |t: usize| {
            let at = |hz: f32| (2.0 * std::f32::consts::PI * hz * t as f32 / 48_000.0).sin();
            0.1 * at(1000.0) + 0.1 * at(60.0)
        };
        let (mut echo_in, mut residual, mut kept_in, mut kept) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, chunk) in far.chunks(CHUNK).enumerate() {
            p.render(chunk).unwrap();
            let start = i * CHUNK;
            let echo: Vec<f32> =
                (start..start + CHUNK).map(|t| if t >= delay { far[t - delay] } else { 0.0 }).collect();
            // The first half: the speaker's sound alone; the second: with the music.
            let with_music = i >= 300;
            let mut monitor: Vec<f32> =
                echo.iter().enumerate().map(|(k, e)| e + if with_music { music(start + k) } else { 0.0 }).collect();
            follower.capture(&mut monitor).unwrap();
            if (150..300).contains(&i) {
                echo_in.extend_from_slice(&echo);
                residual.extend_from_slice(&monitor);
            } else if i >= 450 {
                kept_in.extend((start..start + CHUNK).map(music));
                kept.extend_from_slice(&monitor);
            }
        }
        let erle = 10.0 * (energy(&echo_in) / energy(&residual).max(1e-12)).log10();
        assert!(erle >= 30.0, "the speaker's sound reduced by only {erle:.1} dB");
        // The music, tone by tone. With the other side talking over it, AEC3's suppressor ducks the lowest
        // band (babble is strongest there): 12 dB measured at 60 Hz; a high-pass filter took 54.
        let i16s = |v: &[f32]| v.iter().map(|x| (x * 32767.0) as i16).collect::<Vec<i16>>();
        let (sent, got) = (i16s(&kept_in), i16s(&kept));
        let lost = |hz| {
            tincan_media::analysis::tone_level_db(&sent, hz, 48_000)
                - tincan_media::analysis::tone_level_db(&got, hz, 48_000)
        };
        assert!(lost(1000.0) < 3.0, "the music's 1000 Hz lost {:.1} dB", lost(1000.0));
        assert!(lost(60.0) < 20.0, "the music's bass (60 Hz) lost {:.1} dB", lost(60.0));
        // The microphone's own canceller did not take the far end meant for it (nothing fed it here).
        assert_eq!(p.far.lock().unwrap().len(), FAR_QUEUE);
        drop(follower);
        p.render(&far[..CHUNK]).unwrap();
        assert!(p.followers.lock().unwrap().is_empty(), "a dropped follower is let go");
    }

    /// A busy computer: the speaker's thread hands each chunk over 40 ms before it is due and the
    /// microphone's thread processes each chunk 10 ms after it was captured; both are held up now and then
    /// for 20–100 ms (every ~300 ms on average), and everything behind a hold-up comes bunched. Neither
    /// stream loses time: a speaker held up past its due time would run dry, which the canceller cannot
    /// ride out; on a real computer the threads' priority keeps it on time (measured under load: callbacks
    /// at most 16 ms apart).
    #[test]
    fn bunched_and_late_threads_do_not_break_echo_cancellation() {
        let p =
            VoiceProcessor::new(Processing { gain_control: false, noise_suppression: false, ..Processing::default() });
        let far = far_end(48_000 * 10);
        let delay = 48 * 20;
        let chunks = far.len() / CHUNK;
        let mut seed = 99u32;
        let mut random = move |n: u32| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) % n
        };
        let mut stall = |due_ms: u64, until: &mut u64| {
            if random(30) == 0 {
                *until = due_ms + 20 + random(80) as u64;
            }
            due_ms.max(*until)
        };
        let (mut speaker_stalled, mut mic_stalled) = (0, 0);
        // (when the thread runs, 0 = speaker / 1 = microphone, chunk)
        let mut events = Vec::new();
        for i in 0..chunks {
            let due = 100 + i as u64 * 10;
            // Held up past its due time, the device would have run dry: not modelled (see above).
            events.push((stall(due - 40, &mut speaker_stalled).min(due), 0, i));
            events.push((stall(due + 10, &mut mic_stalled), 1, i));
        }
        events.sort();
        let (mut echo_in, mut residual) = (Vec::new(), Vec::new());
        for (_, side, i) in events {
            if side == 0 {
                p.render(&far[i * CHUNK..(i + 1) * CHUNK]).unwrap();
                continue;
            }
            let start = i * CHUNK;
            let mut mic: Vec<f32> =
                (start..start + CHUNK).map(|t| if t >= delay { 0.5 * far[t - delay] } else { 0.0 }).collect();
            let keep = i >= 300;
            if keep {
                echo_in.extend_from_slice(&mic);
            }
            p.capture(&mut mic).unwrap();
            if keep {
                residual.extend_from_slice(&mic);
            }
        }
        let erle = 10.0 * (energy(&echo_in) / energy(&residual).max(1e-12)).log10();
        let stats = p.stats();
        println!("{erle:.1} dB {stats:?}");
        // It was bunched: up to 100 ms of one side with none of the other.
        assert!(stats.longest_far_run >= 6 && stats.longest_near_run >= 6, "{stats:?}");
        assert!(erle >= 35.0, "echo reduced by only {erle:.1} dB: {stats:?}");
        assert!(stats.erle_db.is_some_and(|e| e >= 20.0), "{stats:?}");
        assert!(stats.delay_moves <= 1, "{stats:?}");
    }
}
