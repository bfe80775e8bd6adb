//! The computer's own sound, sent with a screen share when the user asks ("share the computer's sound"):
//! the monitor of the default output — what every program plays — read through libpulse's simple API, which
//! reaches PulseAudio and PipeWire's PulseAudio server alike (every desktop Linux runs one of them). cpal
//! cannot name a monitor: through ALSA's pulse plugin a stream records the default source only.
//!
//! What Tincan itself plays (the other people) is in that monitor too, and must not be sent back to them.
//! Neither server can record "everything but one program", so it is cancelled, not excluded: the call's
//! voice processor gives a copy of what its speaker plays to an echo canceller of this sound's own
//! ([`VoiceProcessor::follower`]), which finds it in the monitor as it finds the far end in a microphone.
//! The path is digital (a mix and maybe a resampler), so the canceller converges quickly and deeply.
//! Without a processor (voice processing turned off, or no speaker) nothing is cancelled.
//!
//! A reader thread takes 10 ms at a time (48 kHz mono: the server mixes down and resamples), cancels, and
//! queues; the thread that sends the microphone takes 20 ms per frame without waiting ([`AudioFeed`]). The
//! queue starts handing out once it holds [`PRIME_MS`] (the two threads' steps do not line up) and never
//! keeps more than [`MOST_MS`] (two devices' clocks drift apart; a stalled sender must not build latency).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use libpulse_binding::def::BufferAttr;
use libpulse_binding::sample::{Format, Spec};
use libpulse_binding::stream::Direction as PulseDirection;
use libpulse_simple_binding::Simple;
use tincan_media::MediaError;
use tincan_media::source::AudioFeed;

use super::processing::{CHUNK, VoiceProcessor};
use crate::{DeviceError, Result};

/// The default output's monitor, by the name both servers give it.
const DEFAULT_MONITOR: &str = "@DEFAULT_MONITOR@";
const PRIME_MS: usize = 40;
const MOST_MS: usize = 120;
/// How long connecting to the sound server may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Queue {
    samples: VecDeque<f32>,
    /// Handing out (it held [`PRIME_MS`] since it last ran dry).
    primed: bool,
    /// Why the reader stopped, once it has.
    ended: Option<String>,
    /// Times it ran dry while handing out, and audio dropped to keep latency down (ms).
    underruns: u64,
    dropped_ms: f64,
}

/// The computer's sound as an [`AudioFeed`]. Dropping it stops the reader (within 10 ms).
pub struct SystemSound {
    queue: Arc<Mutex<Queue>>,
    stop: Arc<AtomicBool>,
}

impl SystemSound {
    /// Start reading the default output's monitor. `processor`: the call's, whose speaker's sound is
    /// cancelled from it.
    pub fn open(processor: Option<&VoiceProcessor>) -> Result<Self> {
        let canceller = processor.map(VoiceProcessor::follower);
        let queue = Arc::new(Mutex::new(Queue::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (opened, open_result) = mpsc::sync_channel::<Result<()>>(1);
        let (for_thread, stopping) = (queue.clone(), stop.clone());
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name("system-sound".into())
            .spawn(move || {
                let _span = span.entered();
                // Made on the thread that reads it: the simple API's handle stays on one thread.
                let stream = match connect() {
                    Ok(s) => {
                        let _ = opened.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = opened.send(Err(e));
                        return;
                    }
                };
                let why = read(&stream, canceller.as_ref(), &for_thread, &stopping);
                if let Some(why) = &why {
                    tracing::warn!("the computer's sound stopped: {why}");
                }
                if let Ok(mut q) = for_thread.lock() {
                    q.ended = Some(why.unwrap_or_else(|| "stopped".into()));
                    tracing::debug!(underruns = q.underruns, dropped_ms = q.dropped_ms, "the computer's sound");
                }
            })
            .map_err(|e| backend(e.to_string()))?;
        match open_result.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                return Err(backend("the sound server did not answer".into()));
            }
        }
        if processor.is_none() {
            tracing::info!("the computer's sound is shared without cancelling what the call plays");
        }
        Ok(SystemSound { queue, stop })
    }
}

fn backend(message: String) -> DeviceError {
    DeviceError::SystemSound(message)
}

fn connect() -> Result<Simple> {
    let spec = Spec { format: Format::FLOAT32NE, channels: 1, rate: 48_000 };
    // Without a fragment size the server hands recordings over in ~2 s pieces.
    let fragment = (CHUNK * std::mem::size_of::<f32>()) as u32;
    let attr =
        BufferAttr { maxlength: u32::MAX, tlength: u32::MAX, prebuf: u32::MAX, minreq: u32::MAX, fragsize: fragment };
    Simple::new(
        None,
        "Tincan",
        PulseDirection::Record,
        Some(DEFAULT_MONITOR),
        "Screen share sound",
        &spec,
        None,
        Some(&attr),
    )
    // Connecting fails without a sound server; a server without an output has no default monitor.
    .map_err(|e| backend(format!("the default output of PulseAudio or PipeWire cannot be recorded ({e})")))
}

/// Read until stopped; returns why it stopped if that was not asked for.
fn read(
    stream: &Simple,
    canceller: Option<&VoiceProcessor>,
    queue: &Mutex<Queue>,
    stop: &AtomicBool,
) -> Option<String> {
    let mut bytes = vec![0u8; CHUNK * 4];
    let mut chunk = [0f32; CHUNK];
    let most = 48 * MOST_MS;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = stream.read(&mut bytes) {
            return Some(format!("{e}"));
        }
        for (s, b) in chunk.iter_mut().zip(bytes.chunks_exact(4)) {
            *s = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        }
        if let Some(c) = canceller
            && let Err(e) = c.capture(&mut chunk)
        {
            tracing::debug!("{e}");
        }
        let Ok(mut q) = queue.lock() else { return Some("poisoned".into()) };
        q.samples.extend(chunk);
        let excess = q.samples.len().saturating_sub(most);
        if excess > 0 {
            // Down to the priming level, not just under the cap: one cut rather than one per chunk.
            let cut = q.samples.len() - 48 * PRIME_MS;
            q.samples.drain(..cut);
            q.dropped_ms += cut as f64 / 48.0;
        }
    }
    None
}

impl AudioFeed for SystemSound {
    fn mix_into(&mut self, out: &mut [i16]) -> tincan_media::Result<()> {
        let Ok(mut q) = self.queue.lock() else { return Err(MediaError::Ended) };
        if let Some(why) = &q.ended {
            return Err(MediaError::Device(why.clone()));
        }
        if !q.primed {
            if q.samples.len() < 48 * PRIME_MS {
                return Ok(());
            }
            q.primed = true;
        }
        if q.samples.len() < out.len() {
            q.primed = false;
            q.underruns += 1;
        }
        let n = out.len().min(q.samples.len());
        for (o, s) in out.iter_mut().zip(q.samples.drain(..n)) {
            *o = (*o as f32 + s * 32767.0).clamp(-32768.0, 32767.0) as i16;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "the computer's sound".into()
    }
}

impl Drop for SystemSound {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(queue: Queue) -> SystemSound {
        SystemSound { queue: Arc::new(Mutex::new(queue)), stop: Arc::default() }
    }

    #[test]
    fn nothing_is_handed_out_until_primed_then_twenty_ms_a_frame() {
        let mut sound = feed(Queue { samples: vec![0.5; 48 * 30].into(), ..Queue::default() });
        let mut out = vec![100i16; 960];
        sound.mix_into(&mut out).unwrap();
        assert!(out.iter().all(|s| *s == 100), "handed out before it held {PRIME_MS} ms");
        sound.queue.lock().unwrap().samples.extend(vec![0.5; 48 * 20]);
        sound.mix_into(&mut out).unwrap();
        assert!(out.iter().all(|s| *s == 100 + 16383), "mixed in, not replaced: {:?}", &out[..4]);
        assert_eq!(sound.queue.lock().unwrap().samples.len(), 48 * 30);
    }

    #[test]
    fn running_dry_hands_out_what_is_there_and_primes_again() {
        let mut sound = feed(Queue { samples: vec![0.25; 48 * 50].into(), ..Queue::default() });
        let mut out = vec![0i16; 960];
        sound.mix_into(&mut out).unwrap();
        sound.mix_into(&mut out).unwrap();
        out.fill(0);
        sound.mix_into(&mut out).unwrap(); // 10 ms left
        assert_eq!(out.iter().filter(|s| **s != 0).count(), 480);
        let q = sound.queue.lock().unwrap();
        assert_eq!((q.underruns, q.primed, q.samples.len()), (1, false, 0));
    }

    #[test]
    fn loud_sound_saturates_rather_than_wrapping() {
        let mut sound = feed(Queue { samples: vec![1.0; 48 * 40].into(), ..Queue::default() });
        let mut out = vec![30_000i16; 960];
        sound.mix_into(&mut out).unwrap();
        assert!(out.iter().all(|s| *s == i16::MAX));
    }

    #[test]
    fn a_reader_that_stopped_ends_the_feed_with_its_reason() {
        let mut sound = feed(Queue { ended: Some("connection lost".into()), ..Queue::default() });
        let e = sound.mix_into(&mut [0i16; 960]).unwrap_err();
        assert!(e.to_string().contains("connection lost"), "{e}");
    }
}
