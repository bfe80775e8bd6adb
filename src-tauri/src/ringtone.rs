//! The ringtone: while a call rings, a double beat of 440 Hz (0.4 s on, 0.2 s off, 0.4 s on, 2 s off)
//! plays through the speaker chosen in the settings, on a thread of its own. Without a speaker the ring is
//! still shown (and said in the log). It stops when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tincan_devices::Notices;
use tincan_devices::audio::{Speaker, SpeakerOptions};
use tincan_media::source::{AudioSink, AudioSource};
use tincan_media::synthetic::{ToneSource, Waveform};

/// The ring's pitch (the test listens for it).
pub const RING_HZ: f64 = 440.0;
const CYCLE: Duration = Duration::from_millis(3000);

/// Whether the ring sounds `t` into it.
fn sounding(t: Duration) -> bool {
    let ms = (t.as_millis() % CYCLE.as_millis()) as u64;
    ms < 400 || (600..1000).contains(&ms)
}

pub struct Ringtone {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ringtone {
    /// Ring through `device` (`None`: the system's default speaker).
    pub fn start(device: Option<String>) -> Result<Ringtone, String> {
        let options = SpeakerOptions { device, processor: None, notices: Notices::new(|_| {}) };
        let mut speaker = Speaker::open(options).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ringtone".into())
            .spawn(move || {
                // Paced: one 20 ms frame every 20 ms, as a call's audio arrives.
                let mut tone = ToneSource::new(Waveform::Sine { hz: RING_HZ }, 0.3, true);
                while !stopped.load(Ordering::Relaxed) {
                    let Ok(mut frame) = tone.next_frame() else { break };
                    if !sounding(frame.timestamp) {
                        frame.samples.fill(0);
                    }
                    speaker.on_frame(frame);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Ringtone { stop, thread: Some(thread) })
    }
}

impl Drop for Ringtone {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn the_ring_is_a_double_beat_every_three_seconds() {
        let at = |ms: u64| super::sounding(Duration::from_millis(ms));
        assert!(at(0) && at(399) && !at(400) && !at(599) && at(600) && at(999));
        assert!(!at(1000) && !at(2999) && at(3000) && at(3650));
    }
}
