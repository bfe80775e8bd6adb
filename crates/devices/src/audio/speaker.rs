//! The speaker as an [`AudioSink`]: decoded 48 kHz mono frames go into the playout buffer; the device
//! callback takes 10 ms at a time from it, queues that for the echo canceller as the far-end reference (it is
//! exactly what is about to be heard), converts it to the device's rate and copies it to every channel.
//! Its latency (for lip sync) is what the playout buffer holds plus what the callback has converted but not
//! yet handed over plus the device's own (cpal's playback minus callback time).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::DeviceTrait;
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};
use tincan_media::AudioFrame;
use tincan_media::source::AudioSink;

use super::format::{choose, unsupported};
use super::host::Direction;
use super::keeper::{Health, Keeper};
use super::playout::{PlayoutBuffer, PlayoutStats};
use super::priority;
use super::processing::{CHUNK, VoiceProcessor};
use super::resample::RateConverter;
use super::timing::{CallbackTiming, TimingStats};
use crate::{DeviceError, Notices, Result};

#[derive(Clone, Default)]
pub struct SpeakerOptions {
    /// Device id or name (or a part of one); `None` follows the system default.
    pub device: Option<String>,
    /// The same processor the call's microphone uses.
    pub processor: Option<VoiceProcessor>,
    pub notices: Notices,
}

pub struct Speaker {
    playout: Arc<Mutex<PlayoutBuffer>>,
    timing: Arc<CallbackTiming>,
    /// From the last callback to the ear: converted samples not yet handed over plus the device's latency.
    output_latency: Arc<OutputLatency>,
    _keeper: Keeper,
}

/// Reads the playout buffer's figures while the speaker belongs to a call.
#[derive(Clone)]
pub struct SpeakerMonitor(Arc<Mutex<PlayoutBuffer>>, Arc<CallbackTiming>);

impl SpeakerMonitor {
    pub fn stats(&self) -> PlayoutStats {
        self.0.lock().map(|b| b.stats()).unwrap_or_default()
    }

    /// How regularly the device asked for audio.
    pub fn callbacks(&self) -> TimingStats {
        self.1.stats()
    }
}

impl Speaker {
    pub fn open(options: SpeakerOptions) -> Result<Self> {
        let playout = Arc::new(Mutex::new(PlayoutBuffer::default()));
        let output_latency = Arc::new(OutputLatency::default());
        let timing = Arc::new(CallbackTiming::default());
        let (for_streams, latency, for_timing) = (playout.clone(), output_latency.clone(), timing.clone());
        let processor = options.processor.clone();
        let open = Box::new(move |device: &cpal::Device, health: Arc<Health>| {
            let (config, format) = choose(device, Direction::Output)?;
            let feed = Feed::new(
                for_streams.clone(),
                processor.clone(),
                config.sample_rate,
                latency.clone(),
                for_timing.clone(),
            )?;
            match format {
                SampleFormat::F32 => build::<f32>(device, &config, feed, health),
                SampleFormat::I16 => build::<i16>(device, &config, feed, health),
                SampleFormat::I32 => build::<i32>(device, &config, feed, health),
                SampleFormat::U8 => build::<u8>(device, &config, feed, health),
                SampleFormat::U16 => build::<u16>(device, &config, feed, health),
                SampleFormat::F64 => build::<f64>(device, &config, feed, health),
                other => Err(unsupported(Direction::Output, device, other)),
            }
        });
        let (keeper, _name) = Keeper::start(Direction::Output, options.device, options.notices, open)?;
        Ok(Speaker { playout, timing, output_latency, _keeper: keeper })
    }

    pub fn monitor(&self) -> SpeakerMonitor {
        SpeakerMonitor(self.playout.clone(), self.timing.clone())
    }
}

impl AudioSink for Speaker {
    fn on_frame(&mut self, frame: AudioFrame) {
        if let Ok(mut b) = self.playout.lock() {
            b.push(&frame.samples, frame.timestamp, Instant::now());
        }
    }

    fn latency(&self) -> Option<Duration> {
        let buffered = self.playout.lock().map(|b| b.delay()).unwrap_or_default();
        Some(buffered + self.output_latency.now())
    }

    fn set_minimum_delay(&mut self, delay: Duration) {
        if let Ok(mut b) = self.playout.lock() {
            b.set_minimum(delay);
        }
    }
}

/// The way from the device callback to the ear, as of the last callback: read between callbacks, the time
/// since then has already passed (a period can be 25 ms and more through PulseAudio).
#[derive(Default)]
struct OutputLatency(Mutex<Option<(Instant, Duration)>>);

impl OutputLatency {
    fn set(&self, latency: Duration) {
        if let Ok(mut l) = self.0.lock() {
            *l = Some((Instant::now(), latency));
        }
    }

    fn now(&self) -> Duration {
        match self.0.lock().ok().and_then(|l| *l) {
            Some((at, latency)) => latency.saturating_sub(at.elapsed()),
            None => Duration::ZERO,
        }
    }
}

/// What the device callback owns: the way from the playout buffer to device samples.
struct Feed {
    playout: Arc<Mutex<PlayoutBuffer>>,
    processor: Option<VoiceProcessor>,
    converter: RateConverter,
    chunk: [f32; CHUNK],
    converted: Vec<f32>,
    ready: VecDeque<f32>,
    rate: u32,
    latency: Arc<OutputLatency>,
    timing: Arc<CallbackTiming>,
}

impl Feed {
    fn new(
        playout: Arc<Mutex<PlayoutBuffer>>,
        processor: Option<VoiceProcessor>,
        rate: u32,
        latency: Arc<OutputLatency>,
        timing: Arc<CallbackTiming>,
    ) -> Result<Self> {
        timing.restart();
        Ok(Feed {
            playout,
            processor,
            converter: RateConverter::new(tincan_media::frame::SAMPLE_RATE, rate)?,
            chunk: [0.0; CHUNK],
            converted: Vec::with_capacity(4 * CHUNK),
            ready: VecDeque::with_capacity(8 * CHUNK),
            rate: rate.max(1),
            latency,
            timing,
        })
    }

    /// The next `frames` samples at the device's rate.
    fn fill(&mut self, frames: usize) {
        while self.ready.len() < frames {
            match self.playout.lock() {
                Ok(mut b) => b.pull(&mut self.chunk),
                Err(_) => self.chunk.fill(0.0),
            }
            if let Some(p) = &self.processor
                && let Err(e) = p.render(&self.chunk)
            {
                tracing::debug!("{e}");
            }
            self.converted.clear();
            if self.converter.push(&self.chunk, &mut self.converted).is_err() {
                self.converted.clear();
            }
            self.ready.extend(self.converted.iter().copied());
        }
    }
}

fn build<T>(device: &cpal::Device, config: &StreamConfig, mut feed: Feed, health: Arc<Health>) -> Result<cpal::Stream>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let channels = config.channels.max(1) as usize;
    let errors = health.clone();
    let error_timing = feed.timing.clone();
    device
        .build_output_stream::<T, _, _>(
            *config,
            move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
                health.alive();
                priority::raise_callback_thread("speaker", &feed.timing, priority::real_time);
                let frames = data.len() / channels;
                feed.timing.tick(Duration::from_micros(frames as u64 * 1_000_000 / feed.rate as u64));
                feed.fill(frames);
                for frame in data.chunks_exact_mut(channels) {
                    let v = T::from_sample_(feed.ready.pop_front().unwrap_or(0.0));
                    frame.fill(v);
                }
                // What was just handed over is heard after the device's latency; what is left over in
                // `ready` after that.
                let stamp = info.timestamp();
                let device = stamp.playback.duration_since(stamp.callback);
                let queued = Duration::from_micros((feed.ready.len() + frames) as u64 * 1_000_000 / feed.rate as u64);
                feed.latency.set(device + queued);
            },
            move |e| {
                priority::callback_error(&error_timing);
                errors.failed(&e)
            },
            None,
        )
        .map_err(|e| DeviceError::Backend { kind: "speaker", name: device.to_string(), message: e.to_string() })
}
