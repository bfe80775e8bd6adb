//! A call's media from the settings: the chosen camera, microphone and speaker (empty names follow the
//! system default), sharing one echo canceller; a device that is missing is a notice, not a failed call.
//! `TINCAN_TEST_MEDIA=1` (the end-to-end tests, demos on machines without devices) sends the stamped test
//! pattern and a quiet tone instead of camera and microphone.

use std::sync::Arc;

use tauri::{AppHandle, Emitter};
use tincan_devices::audio::{Microphone, MicrophoneOptions, Processing, Speaker, SpeakerOptions, VoiceProcessor};
use tincan_devices::camera::{CameraOptions, CameraSource, Nokhwa, Wanted};
use tincan_devices::{DeviceNotice, Notices};
use tincan_engine::CallConfig;
use tincan_media::source::{AudioSink, Tee, VideoSink};
use tincan_media::synthetic::{TestPattern, ToneSource, Waveform};

use crate::error::Result;
use crate::store::settings::Settings;

fn name(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_owned())
}

/// Sets the config's sources and audio sink; `preview` gets the camera's frames.
pub fn attach(
    app: &AppHandle,
    config: &mut CallConfig,
    settings: &Settings,
    preview: Box<dyn VideoSink>,
) -> Result<()> {
    let handle = app.clone();
    let notices = Notices::new(move |n: DeviceNotice| {
        let _ = handle.emit("device", &n);
    });
    if std::env::var_os("TINCAN_TEST_MEDIA").is_some() {
        config.video_source = Some(Box::new(Tee::new(TestPattern::new(640, 480, 30, true)?, preview)));
        config.audio_source = Some(Box::new(ToneSource::new(Waveform::Sine { hz: 440.0 }, 0.2, true)));
        return Ok(());
    }
    let processor = VoiceProcessor::new(Processing::default());
    let camera = CameraOptions { device: name(&settings.camera), wanted: Wanted::default(), notices: notices.clone() };
    match CameraSource::start(Arc::new(Nokhwa), camera) {
        Ok(source) => config.video_source = Some(Box::new(Tee::new(source, preview))),
        Err(e) => notices.send(DeviceNotice::Absent { kind: "camera", message: e.to_string() }),
    }
    let mic = MicrophoneOptions {
        device: name(&settings.microphone),
        processor: Some(processor.clone()),
        notices: notices.clone(),
    };
    match Microphone::open(mic) {
        Ok(m) => config.audio_source = Some(Box::new(m)),
        Err(e) => notices.send(DeviceNotice::Absent { kind: "microphone", message: e.to_string() }),
    }
    let speaker =
        SpeakerOptions { device: name(&settings.speaker), processor: Some(processor), notices: notices.clone() };
    match Speaker::open(speaker) {
        Ok(s) => config.audio_sink = Some(Box::new(s) as Box<dyn AudioSink>),
        Err(e) => notices.send(DeviceNotice::Absent { kind: "speaker", message: e.to_string() }),
    }
    Ok(())
}
