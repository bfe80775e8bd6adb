//! The microphone through a real PulseAudio server: what is played into the sink it records comes out as
//! 48 kHz mono frames with the same pitch; when that device goes away mid-stream, the microphone moves to
//! the default one and says so.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tincan_devices::audio::{Microphone, MicrophoneOptions, Processing, VoiceProcessor};
use tincan_devices::{DeviceNotice, Notices};
use tincan_media::analysis::{dominant_frequency, rms};
use tincan_media::source::AudioSource;
use tincan_rig::pulse::Pulse;

mod common;
use common::pulse::become_client;

fn tone(hz: f64, seconds: f64) -> Vec<i16> {
    (0..(48_000.0 * seconds) as usize)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 48_000.0).sin()) as i16)
        .collect()
}

/// `seconds` of audio, from the first frame that is not silent (a PulseAudio stream takes 1–2 s to start
/// here; up to 8 s are allowed).
fn record(mic: &mut Microphone, seconds: f64) -> Vec<i16> {
    let mut out = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(8);
    let mut until = None;
    while until.is_none_or(|u| Instant::now() < u) && Instant::now() < give_up {
        match mic.next_frame() {
            Ok(f) if until.is_some() => out.extend(f.samples),
            Ok(f) if rms(&f.samples) > 0.01 => {
                until = Some(Instant::now() + Duration::from_secs_f64(seconds));
                out.extend(f.samples);
            }
            Ok(_) => {}
            Err(e) => eprintln!("{e}"),
        }
    }
    out
}

#[test]
fn the_microphone_hears_its_source_and_survives_losing_it() {
    let pulse = Pulse::start().unwrap();
    pulse.null_sink("room").unwrap();
    let headset = pulse.null_sink("headset").unwrap();
    pulse.pactl(&["set-default-source", "room.monitor"]).unwrap();
    // The headset is an ALSA device of its own.
    become_client(&pulse, "room", "room.monitor", &["headset"]);
    let listed = tincan_devices::audio::list(tincan_devices::audio::Direction::Input).unwrap();
    println!("microphones: {:?}", listed.iter().map(|d| &d.id).collect::<Vec<_>>());
    assert!(listed.iter().any(|d| d.name.contains("headset")), "the headset is listed");
    // A real microphone always delivers; a null sink's monitor only once something plays into it.
    let player = pulse.play("headset", &tone(440.0, 3.0)).unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let mut mic = Microphone::open(MicrophoneOptions {
        device: Some("headset".into()),
        processor: Some(VoiceProcessor::new(Processing { gain_control: false, ..Processing::default() })),
        notices: Notices::new(move |n| seen.lock().unwrap().push(n)),
    })
    .unwrap();

    let heard = record(&mut mic, 2.0);
    let tail = &heard[heard.len() / 2..];
    let hz = dominant_frequency(tail, 48_000).unwrap();
    println!("microphone: {} samples in 2 s, {hz:.1} Hz, rms {:.3}", heard.len(), rms(tail));
    assert!((hz - 440.0).abs() < 5.0, "heard {hz} Hz");
    // Noise suppression takes a steady tone for noise and lowers it (-12 dB here); speech it leaves alone.
    assert!(rms(tail) > 0.02, "too quiet: {}", rms(tail));
    // How old a frame's first sample is when the frame is returned (the peer's lip sync takes it off): at
    // least the frame's own 20 ms.
    let delay = mic.capture_delay().expect("the microphone knows when its audio was captured");
    println!("capture delay {delay:?}");
    assert!((Duration::from_millis(20)..Duration::from_millis(200)).contains(&delay), "{delay:?}");
    drop(player);

    // The headset goes away; the room (the default) takes over.
    pulse.unload(headset).unwrap();
    let player = pulse.play("room", &tone(660.0, 12.0)).unwrap();
    let heard = record(&mut mic, 2.0);
    let tail = &heard[heard.len() / 2..];
    let hz = dominant_frequency(tail, 48_000);
    println!("after the loss: {hz:?} Hz, notices {:?}", notices.lock().unwrap());
    assert!(hz.is_some_and(|hz| (hz - 660.0).abs() < 5.0), "heard {hz:?} Hz after the switch");
    drop(player);
    let notices = notices.lock().unwrap();
    assert!(
        matches!(&notices[..], [DeviceNotice::Lost { name, fallback: Some(_), .. }, ..] if name.contains("headset")),
        "the user is told: {notices:?}"
    );
}
