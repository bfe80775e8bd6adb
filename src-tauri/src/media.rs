//! A call's media from the settings: the chosen camera, microphone and speaker (empty names follow the
//! system default), sharing one echo canceller; a device that is missing is a notice, not a failed call.
//! Each is behind a [`Switchable`], so the in-call pickers can change it while the call runs (a camera or
//! microphone plugged in mid-call can be taken into use: the call has its tracks from the start).
//! `TINCAN_TEST_MEDIA=1` (the end-to-end tests, demos on machines without devices) sends the stamped test
//! pattern and a quiet tone instead of camera and microphone.

use std::sync::Arc;
use std::time::Duration;

use tauri::AppHandle;
use tincan_devices::audio::{Microphone, MicrophoneOptions, Processing, Speaker, SpeakerOptions, VoiceProcessor};
use tincan_devices::camera::{CameraOptions, CameraSource, Nokhwa, Wanted};
use tincan_devices::{DeviceNotice, Notices};
use tincan_engine::CallConfig;
use tincan_media::source::{AudioSink, AudioSource, Switch, Switchable, Tee, VideoSink, VideoSource};
use tincan_media::synthetic::{TestPattern, ToneSource, Waveform};
use tincan_media::{AudioFrame, MediaError};

use crate::error::{AppError, Result};
use crate::store::settings::Settings;

fn name(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_owned())
}

/// What the in-call pickers change (cheap to clone: handles).
#[derive(Clone)]
pub struct CallDevices {
    camera: Switch<dyn VideoSource>,
    microphone: Switch<dyn AudioSource>,
    speaker: Switch<dyn AudioSink>,
    processor: VoiceProcessor,
    notices: Notices,
}

/// No microphone: the call keeps its audio track (a microphone can be picked later); the engine reads the
/// error as "not delivering" and the other side sees this side muted.
struct NoMicrophone;

impl AudioSource for NoMicrophone {
    fn next_frame(&mut self) -> tincan_media::Result<AudioFrame> {
        std::thread::sleep(Duration::from_millis(500));
        Err(MediaError::Device("no microphone".into()))
    }

    fn describe(&self) -> String {
        "no microphone".into()
    }
}

fn camera(device: Option<String>, notices: &Notices) -> Result<Box<dyn VideoSource>> {
    let options = CameraOptions { device, wanted: Wanted::default(), notices: notices.clone() };
    Ok(Box::new(CameraSource::start(Arc::new(Nokhwa), options).map_err(|e| AppError::Invalid(e.to_string()))?))
}

fn microphone(device: Option<String>, processor: &VoiceProcessor, notices: &Notices) -> Box<dyn AudioSource> {
    let options = MicrophoneOptions { device, processor: Some(processor.clone()), notices: notices.clone() };
    match Microphone::open(options) {
        Ok(m) => Box::new(m),
        Err(e) => {
            notices.send(DeviceNotice::Absent { kind: "microphone", message: e.to_string() });
            Box::new(NoMicrophone)
        }
    }
}

fn speaker(device: Option<String>, processor: &VoiceProcessor, notices: &Notices) -> Box<dyn AudioSink> {
    let options = SpeakerOptions { device, processor: Some(processor.clone()), notices: notices.clone() };
    match Speaker::open(options) {
        Ok(s) => Box::new(s),
        Err(e) => {
            notices.send(DeviceNotice::Absent { kind: "speaker", message: e.to_string() });
            Box::new(|_: AudioFrame| {})
        }
    }
}

/// Sets the config's sources and audio sink; `preview` gets what the camera sends.
pub fn attach(
    app: &AppHandle,
    config: &mut CallConfig,
    settings: &Settings,
    preview: Box<dyn VideoSink>,
) -> Result<Option<CallDevices>> {
    if std::env::var_os("TINCAN_TEST_MEDIA").is_some() {
        config.video_source = Some(Box::new(Tee::new(TestPattern::new(640, 480, 30, true)?, preview)));
        config.audio_source = Some(Box::new(ToneSource::new(Waveform::Sine { hz: 440.0 }, 0.2, true)));
        return Ok(None);
    }
    let handle = app.clone();
    let notices = Notices::new(move |n: DeviceNotice| {
        crate::contract::UiEvent::Device(&n).emit(&handle);
    });
    let processor = VoiceProcessor::new(Processing::default());
    let (video, camera_switch) = Switchable::<dyn VideoSource>::new(camera(name(&settings.camera), &notices)?);
    config.video_source = Some(Box::new(Tee::new(video, preview)));
    let (audio, microphone_switch) =
        Switchable::<dyn AudioSource>::new(microphone(name(&settings.microphone), &processor, &notices));
    config.audio_source = Some(Box::new(audio));
    let (sink, speaker_switch) =
        Switchable::<dyn AudioSink>::new(speaker(name(&settings.speaker), &processor, &notices));
    config.audio_sink = Some(Box::new(sink));
    config.voice_monitor = Some(std::sync::Arc::new(processor.clone()));
    Ok(Some(CallDevices {
        camera: camera_switch,
        microphone: microphone_switch,
        speaker: speaker_switch,
        processor,
        notices,
    }))
}

impl CallDevices {
    /// The call's echo canceller (a share's sound cancels what its speaker plays).
    pub fn processor(&self) -> &VoiceProcessor {
        &self.processor
    }

    /// Use another device (`name` empty: the system default) for `kind`: camera, microphone or speaker.
    pub fn switch(&self, kind: &str, device: &str) -> Result<()> {
        let device = name(device);
        match kind {
            "camera" => self.camera.replace(camera(device, &self.notices)?),
            "microphone" => self.microphone.replace(microphone(device, &self.processor, &self.notices)),
            "speaker" => self.speaker.replace(speaker(device, &self.processor, &self.notices)),
            other => return Err(AppError::Invalid(format!("\"{other}\" is not a camera, microphone or speaker."))),
        }
        Ok(())
    }
}
