//! The device check before joining a call: the chosen camera's picture (on a channel of its own), the
//! chosen microphone's level (`microphone_level` events, about ten a second) and a test sound through the
//! chosen speaker. Nothing is opened before the user asks to join; everything is closed when they join
//! (the call opens the devices again, with the echo canceller) or go back. Device trouble comes as the
//! usual `device` events. With `TINCAN_TEST_MEDIA` the picture is the test pattern and the microphone a
//! tone, as in a call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tauri::AppHandle;
use tauri::ipc::{Channel, InvokeResponseBody};
use tincan_devices::audio::{Microphone, MicrophoneOptions, Speaker, SpeakerOptions};
use tincan_devices::camera::{CameraOptions, CameraSource, Nokhwa, Wanted};
use tincan_devices::{DeviceNotice, Notices};
use tincan_media::analysis::rms;
use tincan_media::source::{AudioSink, AudioSource, VideoSource};
use tincan_media::synthetic::{TestPattern, ToneSource, Waveform};

use crate::contract::UiEvent;
use crate::store::settings::Settings;
use crate::video::FramePump;

/// The test sound: a rising C major arpeggio (C5, E5, G5), each note this long, then quiet. The end-to-end
/// test listens for the three notes in this order.
pub const TEST_NOTES_HZ: [f64; 3] = [523.25, 659.25, 783.99];
const NOTE: Duration = Duration::from_millis(300);
const TEST_SOUND_LEVEL: f64 = 0.3;
/// How often the level is reported.
const LEVEL_EVERY: Duration = Duration::from_millis(100);

fn name(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_owned())
}

/// The note `t` into the test sound, if one sounds then.
fn note_at(t: Duration) -> Option<f64> {
    TEST_NOTES_HZ.get((t.as_millis() / NOTE.as_millis()) as usize).copied()
}

/// The microphone's level for the meter, 0..=1: dBFS from -60 (silence) to 0, as meters show speech.
fn meter(samples: &[i16]) -> f64 {
    let level = rms(samples);
    if level <= 0.0 {
        return 0.0;
    }
    ((20.0 * level.log10() + 60.0) / 60.0).clamp(0.0, 1.0)
}

pub struct DeviceCheck {
    stop: Arc<AtomicBool>,
    /// Bumped by [`DeviceCheck::play_test_sound`]: the speaker's thread starts the sound over.
    plays: Arc<AtomicU64>,
    preview: FramePump,
    threads: Vec<JoinHandle<()>>,
}

impl DeviceCheck {
    /// Open the devices the settings choose; the camera's picture goes to `preview`.
    pub fn start(
        app: &AppHandle,
        settings: &Settings,
        preview: Channel<InvokeResponseBody>,
        visible: Arc<AtomicBool>,
    ) -> DeviceCheck {
        let handle = app.clone();
        let notices = Notices::new(move |n: DeviceNotice| UiEvent::Device(&n).emit(&handle));
        // As in a call: the stamped test pattern and a tone instead of camera and microphone.
        let test_media = std::env::var_os("TINCAN_TEST_MEDIA").is_some();
        let stop = Arc::new(AtomicBool::new(false));
        let plays = Arc::new(AtomicU64::new(0));
        // As large as the check shows it, at up to 15 fps.
        let pump = FramePump::start(preview, visible, (640, 480), Duration::from_millis(66), "");
        let mut threads = Vec::new();
        let mut spawn = |what: &str, f: Box<dyn FnOnce() + Send>| match std::thread::Builder::new()
            .name(format!("check-{what}"))
            .spawn(f)
        {
            Ok(t) => threads.push(t),
            Err(e) => tracing::warn!("device check: no {what} thread: {e}"),
        };

        let options =
            CameraOptions { device: name(&settings.camera), wanted: Wanted::default(), notices: notices.clone() };
        let (stopped, mut sink) = (stop.clone(), pump.sink());
        spawn(
            "camera",
            Box::new(move || {
                let camera: tincan_media::Result<Box<dyn VideoSource>> = if test_media {
                    TestPattern::new(640, 480, 30, true).map(|p| Box::new(p) as _)
                } else {
                    CameraSource::start(Arc::new(Nokhwa), options)
                        .map(|c| Box::new(c) as _)
                        .map_err(|e| tincan_media::MediaError::Device(e.to_string()))
                };
                let mut camera = match camera {
                    Ok(c) => c,
                    Err(e) => return tracing::warn!("device check: camera: {e}"),
                };
                while !stopped.load(Ordering::Relaxed) {
                    match camera.next_frame() {
                        Ok(frame) => sink.on_frame(frame),
                        // None yet (it waited for one): the UI shows the camera-off picture meanwhile.
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            }),
        );

        let options =
            MicrophoneOptions { device: name(&settings.microphone), processor: None, notices: notices.clone() };
        let (stopped, handle) = (stop.clone(), app.clone());
        spawn(
            "microphone",
            Box::new(move || {
                let microphone = if test_media {
                    Ok(Box::new(ToneSource::new(Waveform::Sine { hz: 440.0 }, 0.2, true)) as Box<dyn AudioSource>)
                } else {
                    Microphone::open(options).map(|m| Box::new(m) as _)
                };
                let mut microphone = match microphone {
                    Ok(m) => m,
                    Err(e) => {
                        let message = e.to_string();
                        return UiEvent::Device(&DeviceNotice::Absent { kind: "microphone", message }).emit(&handle);
                    }
                };
                let mut heard = Vec::new();
                while !stopped.load(Ordering::Relaxed) {
                    match microphone.next_frame() {
                        Ok(frame) => heard.extend_from_slice(&frame.samples),
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                    if heard.len() as u64 >= LEVEL_EVERY.as_millis() as u64 * 48 {
                        UiEvent::MicrophoneLevel { level: meter(&heard) }.emit(&handle);
                        heard.clear();
                    }
                }
            }),
        );

        let options = SpeakerOptions { device: name(&settings.speaker), processor: None, notices };
        let (stopped, played, handle) = (stop.clone(), plays.clone(), app.clone());
        spawn(
            "speaker",
            Box::new(move || {
                let mut speaker = match Speaker::open(options) {
                    Ok(s) => s,
                    Err(e) => {
                        let message = e.to_string();
                        return UiEvent::Device(&DeviceNotice::Absent { kind: "speaker", message }).emit(&handle);
                    }
                };
                // Opened at the start and fed silence, so the sound is whole when asked for (a PulseAudio
                // stream takes a second or two to start). Paced: one 20 ms frame every 20 ms.
                let mut clock = ToneSource::new(Waveform::Sine { hz: 0.0 }, 0.0, true);
                let (mut seen, mut started, mut phase) = (0, None, 0.0_f64);
                while !stopped.load(Ordering::Relaxed) {
                    let Ok(mut frame) = clock.next_frame() else { break };
                    let asked = played.load(Ordering::Relaxed);
                    if asked != seen {
                        (seen, started) = (asked, Some(frame.timestamp));
                    }
                    let hz = started.and_then(|s| note_at(frame.timestamp.saturating_sub(s)));
                    for sample in frame.samples.iter_mut() {
                        *sample = match hz {
                            Some(hz) => {
                                phase = (phase + std::f64::consts::TAU * hz / 48_000.0) % std::f64::consts::TAU;
                                (phase.sin() * TEST_SOUND_LEVEL * i16::MAX as f64) as i16
                            }
                            None => 0,
                        };
                    }
                    speaker.on_frame(frame);
                }
            }),
        );
        DeviceCheck { stop, plays, preview: pump, threads }
    }

    pub fn play_test_sound(&self) {
        self.plays.fetch_add(1, Ordering::Relaxed);
    }

    pub fn preview(&self) -> &FramePump {
        &self.preview
    }
}

impl Drop for DeviceCheck {
    /// Closes the devices before returning (the call about to start wants them).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.preview.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_sound_rises_through_three_notes_then_stops() {
        let at = |ms| note_at(Duration::from_millis(ms));
        assert_eq!(
            (at(0), at(299), at(300), at(650), at(899)),
            (Some(523.25), Some(523.25), Some(659.25), Some(783.99), Some(783.99))
        );
        assert_eq!(at(900), None);
    }

    #[test]
    fn the_meter_reads_speech_levels() {
        assert_eq!(meter(&[0; 960]), 0.0);
        assert!((meter(&[i16::MAX; 960]) - 1.0).abs() < 1e-6);
        // -20 dBFS (a voice at a normal distance) is two thirds up the meter.
        let voice: Vec<i16> = (0..960).map(|i| if i % 2 == 0 { 3277 } else { -3277 }).collect();
        assert!((meter(&voice) - 2.0 / 3.0).abs() < 0.01, "{}", meter(&voice));
    }
}
