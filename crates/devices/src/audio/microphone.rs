//! The microphone as an [`AudioSource`]: any device format → 48 kHz mono (rubato) → voice processing
//! (echo cancellation against what the speaker plays, noise suppression, gain control) → 20 ms frames.
//!
//! The device callback only mixes down to mono and appends to a mailbox that keeps at most 500 ms (the
//! oldest audio goes first); the engine's audio thread (real-time priority where the OS grants it; it also
//! encodes) does the rest. When that thread falls behind (or starts late), all of the backlog still goes
//! through the canceller (so its input stays continuous), and then what waits beyond 60 ms is cut to the
//! newest 20 ms, so latency never builds up.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::DeviceTrait;
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};
use tincan_media::frame::AUDIO_FRAME_SAMPLES;
use tincan_media::source::AudioSource;
use tincan_media::{AudioFrame, MediaError};

use super::format::{choose, unsupported};
use super::host::Direction;
use super::keeper::{Health, Keeper};
use super::priority::{self, Priority};
use super::processing::{CHUNK, VoiceProcessor};
use super::resample::RateConverter;
use super::timing::{CallbackTiming, TimingStats};
use crate::{DeviceError, Notices, Result};

const MAILBOX_MS: usize = 500;
const BACKLOG_MS: usize = 60;
const KEEP_MS: usize = 20;
/// No audio for this long is reported to the engine (which asks again); the keeper reopens the device.
const SILENT_DEVICE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Queue {
    rate: u32,
    samples: VecDeque<f32>,
    stats: MicrophoneStats,
    /// When the newest sample was captured (the callback's time less the device's latency).
    newest: Option<Instant>,
}

#[derive(Default)]
struct Mailbox {
    queue: Mutex<Queue>,
    ready: Condvar,
    timing: CallbackTiming,
}

/// What happened to the microphone's audio on its way to the encoder.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct MicrophoneStats {
    pub callbacks: TimingStats,
    /// What the processing thread got from the OS.
    pub processing_thread: Priority,
    /// Audio the device delivered that nobody took in time (ms).
    pub overflow_ms: f64,
    /// Audio cut to bring latency down after the audio thread fell behind (ms).
    pub cut_ms: f64,
    /// The most audio waiting for the audio thread (ms).
    pub longest_backlog_ms: f64,
}

/// Reads a microphone's figures while it belongs to a call.
#[derive(Clone)]
pub struct MicrophoneMonitor(Arc<Mailbox>);

impl MicrophoneMonitor {
    pub fn stats(&self) -> MicrophoneStats {
        let stats = self.0.queue.lock().map(|q| q.stats.clone()).unwrap_or_default();
        MicrophoneStats { callbacks: self.0.timing.stats(), ..stats }
    }
}

impl Mailbox {
    fn put(&self, rate: u32, mono: impl Iterator<Item = f32>, device_latency: Duration) {
        let Ok(mut q) = self.queue.lock() else { return };
        if q.rate != rate {
            q.samples.clear();
            q.rate = rate;
            // Room for the most it keeps, so the callback does not allocate as it fills.
            let cap = rate as usize * MAILBOX_MS / 1000;
            q.samples.reserve(cap);
        }
        q.samples.extend(mono);
        q.newest = Instant::now().checked_sub(device_latency);
        let cap = rate as usize * MAILBOX_MS / 1000;
        let excess = q.samples.len().saturating_sub(cap);
        if excess > 0 {
            q.samples.drain(..excess);
            q.stats.overflow_ms += excess as f64 * 1000.0 / rate as f64;
        }
        drop(q);
        self.ready.notify_one();
    }
}

#[derive(Clone, Default)]
pub struct MicrophoneOptions {
    /// Device id or name (or a part of one); `None` follows the system default.
    pub device: Option<String>,
    /// Echo cancellation and friends; share it with the call's [`super::Speaker`].
    pub processor: Option<VoiceProcessor>,
    pub notices: Notices,
}

pub struct Microphone {
    mailbox: Arc<Mailbox>,
    _keeper: Keeper,
    name: String,
    converter: Option<RateConverter>,
    at_48k: Vec<f32>,
    incoming: Vec<f32>,
    processed: Vec<f32>,
    processor: Option<VoiceProcessor>,
    timestamp: Duration,
    /// When the newest sample taken from the mailbox was captured.
    newest: Option<Instant>,
    /// How old the first sample of the last frame returned was.
    delay: Option<Duration>,
    asked_priority: bool,
}

impl Microphone {
    pub fn open(options: MicrophoneOptions) -> Result<Self> {
        let mailbox = Arc::new(Mailbox::default());
        let for_streams = mailbox.clone();
        let open = Box::new(move |device: &cpal::Device, health: Arc<Health>| {
            let (config, format) = choose(device, Direction::Input)?;
            match format {
                SampleFormat::F32 => build::<f32>(device, &config, for_streams.clone(), health),
                SampleFormat::I16 => build::<i16>(device, &config, for_streams.clone(), health),
                SampleFormat::I32 => build::<i32>(device, &config, for_streams.clone(), health),
                SampleFormat::U8 => build::<u8>(device, &config, for_streams.clone(), health),
                SampleFormat::U16 => build::<u16>(device, &config, for_streams.clone(), health),
                SampleFormat::F64 => build::<f64>(device, &config, for_streams.clone(), health),
                other => Err(unsupported(Direction::Input, device, other)),
            }
        });
        let (keeper, name) = Keeper::start(Direction::Input, options.device, options.notices, open)?;
        Ok(Microphone {
            mailbox,
            _keeper: keeper,
            name,
            converter: None,
            at_48k: Vec::with_capacity(4 * CHUNK),
            incoming: Vec::new(),
            processed: Vec::with_capacity(2 * AUDIO_FRAME_SAMPLES),
            processor: options.processor,
            timestamp: Duration::ZERO,
            newest: None,
            delay: None,
            asked_priority: false,
        })
    }

    pub fn monitor(&self) -> MicrophoneMonitor {
        MicrophoneMonitor(self.mailbox.clone())
    }

    /// Wait for device audio; false if none came.
    fn take_input(&mut self) -> Result<bool> {
        let lock_err = || DeviceError::Lost { kind: "microphone", name: self.name.clone(), message: "lock".into() };
        let mut q = self.mailbox.queue.lock().map_err(|_| lock_err())?;
        if q.samples.is_empty() {
            q = self.mailbox.ready.wait_timeout(q, SILENT_DEVICE).map_err(|_| lock_err())?.0;
        }
        if q.samples.is_empty() {
            return Ok(false);
        }
        let rate = q.rate;
        let backlog_ms = q.samples.len() as f64 * 1000.0 / rate as f64;
        q.stats.longest_backlog_ms = q.stats.longest_backlog_ms.max(backlog_ms);
        self.incoming.clear();
        self.incoming.extend(q.samples.drain(..));
        self.newest = q.newest;
        drop(q);
        if self.converter.as_ref().is_none_or(|c| c.rates().0 != rate) {
            self.converter = Some(RateConverter::new(rate, tincan_media::frame::SAMPLE_RATE)?);
            self.at_48k.clear();
        }
        if let Some(c) = &mut self.converter {
            c.push(&self.incoming, &mut self.at_48k)?;
        }
        let whole = self.at_48k.len() / CHUNK * CHUNK;
        for chunk in self.at_48k[..whole].chunks_exact_mut(CHUNK) {
            if let Some(p) = &self.processor
                && let Err(e) = p.capture(chunk)
            {
                tracing::debug!("{e}");
            }
            self.processed.extend_from_slice(chunk);
        }
        self.at_48k.drain(..whole);
        // Cut after processing, so that the canceller saw it all.
        if self.processed.len() > 48 * BACKLOG_MS {
            let cut = self.processed.len() - 48 * KEEP_MS;
            self.processed.drain(..cut);
            if let Ok(mut q) = self.mailbox.queue.lock() {
                q.stats.cut_ms += cut as f64 / 48.0;
            }
            tracing::debug!("microphone backlog of {} ms cut", cut / 48);
        }
        Ok(true)
    }
}

impl AudioSource for Microphone {
    fn next_frame(&mut self) -> tincan_media::Result<AudioFrame> {
        if !self.asked_priority {
            // This is the thread that processes the microphone (the engine's audio thread).
            self.asked_priority = true;
            let got = priority::real_time();
            tracing::debug!("microphone processing thread: {got:?}");
            if let Ok(mut q) = self.mailbox.queue.lock() {
                q.stats.processing_thread = got;
            }
        }
        while self.processed.len() < AUDIO_FRAME_SAMPLES {
            if !self.take_input()? {
                return Err(MediaError::Device(format!("microphone \"{}\" delivers nothing", self.name)));
            }
        }
        let samples: Vec<i16> = self
            .processed
            .drain(..AUDIO_FRAME_SAMPLES)
            .map(|s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .collect();
        // The frame's first sample is older than the newest one taken by the frame and what follows it.
        let after_first = (AUDIO_FRAME_SAMPLES + self.processed.len() + self.at_48k.len()) as u64;
        self.delay = self.newest.map(|t| t.elapsed() + Duration::from_micros(after_first * 1_000_000 / 48_000));
        let frame = AudioFrame { timestamp: self.timestamp, samples };
        self.timestamp += frame.duration();
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!("microphone \"{}\"", self.name)
    }

    fn capture_delay(&self) -> Option<Duration> {
        self.delay
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    mailbox: Arc<Mailbox>,
    health: Arc<Health>,
) -> Result<cpal::Stream>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let channels = config.channels.max(1) as usize;
    let rate = config.sample_rate;
    let errors = health.clone();
    let for_errors = mailbox.clone();
    device
        .build_input_stream::<T, _, _>(
            *config,
            move |data: &[T], info: &cpal::InputCallbackInfo| {
                health.alive();
                priority::raise_callback_thread("microphone", &mailbox.timing, priority::raised);
                mailbox
                    .timing
                    .tick(Duration::from_micros((data.len() / channels) as u64 * 1_000_000 / rate.max(1) as u64));
                let stamp = info.timestamp();
                // The callback gets the buffer whose last sample was captured at `capture` + its length.
                let length = Duration::from_micros((data.len() / channels) as u64 * 1_000_000 / rate.max(1) as u64);
                let device_latency = stamp.callback.duration_since(stamp.capture).saturating_sub(length);
                mailbox.put(
                    rate,
                    data.chunks_exact(channels)
                        .map(|f| f.iter().map(|s| f32::from_sample_(*s)).sum::<f32>() / channels as f32),
                    device_latency,
                );
            },
            move |e| {
                priority::callback_error(&for_errors.timing);
                errors.failed(&e)
            },
            None,
        )
        .map_err(|e| DeviceError::Backend { kind: "microphone", name: device.to_string(), message: e.to_string() })
}
