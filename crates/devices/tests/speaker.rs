//! The speaker through a real PulseAudio server: frames handed to it are heard in the sink it plays into,
//! when its latency (what lip sync relies on) says they will be; when that device goes away mid-stream, the
//! sound goes on in the default one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tincan_devices::Notices;
use tincan_devices::audio::{Speaker, SpeakerOptions};
use tincan_media::AudioFrame;
use tincan_media::analysis::{dominant_frequency, rms};
use tincan_media::source::AudioSink;
use tincan_rig::pulse::{Pulse, Recorder};

mod common;
use common::pulse::become_client;

const FRAME: usize = 960;

fn tone_frame(hz: f64, n: usize) -> AudioFrame {
    let samples = (0..FRAME)
        .map(|i| {
            let t = (n * FRAME + i) as f64 / 48_000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect();
    AudioFrame { timestamp: Duration::from_millis(n as u64 * 20), samples }
}

/// Hand the speaker `count` frames at real time from frame number `first`; `frame` makes each one.
fn feed(speaker: &mut Speaker, first: usize, count: usize, frame: impl Fn(usize) -> AudioFrame) {
    let start = Instant::now();
    for n in first..first + count {
        speaker.on_frame(frame(n));
        let due = start + Duration::from_millis((n - first + 1) as u64 * 20);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
}

/// What `recorder` heard from `from` on (it started at its own first sample's time).
fn heard_since(recorder: &Recorder, from: Instant) -> Vec<i16> {
    let (samples, start) = recorder.take();
    let skip = start.map_or(0, |s| (from.saturating_duration_since(s).as_secs_f64() * 48_000.0) as usize);
    samples.get(skip..).unwrap_or_default().to_vec()
}

#[test]
fn the_speaker_plays_when_it_says_and_survives_losing_its_device() {
    let pulse = Pulse::start().unwrap();
    pulse.null_sink("room").unwrap();
    let headset = pulse.null_sink("headset").unwrap();
    pulse.pactl(&["set-default-sink", "room"]).unwrap();
    // The headset is an ALSA device of its own.
    become_client(&pulse, "room", "room.monitor", &["headset"]);
    let listed = tincan_devices::audio::list(tincan_devices::audio::Direction::Output).unwrap();
    println!("speakers: {:?}", listed.iter().map(|d| &d.id).collect::<Vec<_>>());
    assert!(listed.iter().any(|d| d.id.ends_with(":headset-out")), "the headset is listed");

    let headset_ear = pulse.record("headset.monitor").unwrap();
    let room_ear = pulse.record("room.monitor").unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let mut speaker = Speaker::open(SpeakerOptions {
        device: Some("headset-out".into()),
        processor: None,
        notices: Notices::new(move |n| seen.lock().unwrap().push(n)),
    })
    .unwrap();

    // Silence until the stream has started (1–2 s here; what piles up meanwhile is played down to the
    // target) and the latency has been steady for half a second; then one burst whose arrival is timed.
    let silence = |n: usize| AudioFrame { timestamp: Duration::from_millis(n as u64 * 20), samples: vec![0; FRAME] };
    let (mut n, mut steady) = (0, 0);
    while steady < 25 && n < 500 {
        feed(&mut speaker, n, 1, silence);
        n += 1;
        let ms = speaker.latency().unwrap_or_default().as_millis();
        steady = if n > 50 && ms < 120 { steady + 1 } else { 0 };
    }
    let handed = Instant::now();
    speaker.on_frame(tone_frame(1000.0, n));
    let said = speaker.latency().expect("a speaker knows its latency");
    feed(&mut speaker, n + 1, 50, silence);
    let (samples, start) = headset_ear.take();
    let start = start.expect("the headset's monitor recorded");
    let onset = samples.iter().position(|s| s.unsigned_abs() > 2000).expect("the burst was heard in the headset");
    let heard_at = start + Duration::from_secs_f64(onset as f64 / 48_000.0);
    let measured = heard_at.saturating_duration_since(handed).as_secs_f64() * 1000.0;
    // `latency` is for the frame's last sample; the burst starts 20 ms before it. The playout buffer may
    // still drop 10 ms of what it holds (it keeps within 30 ms above its target), hence the tolerance.
    let estimated = said.as_secs_f64() * 1000.0 - 20.0;
    println!("burst heard {measured:.1} ms after it was handed over; the speaker said {estimated:.1} ms");
    assert!((measured - estimated).abs() <= 30.0, "heard after {measured:.1} ms, said {estimated:.1} ms");

    // A steady tone in the headset.
    let from = Instant::now();
    feed(&mut speaker, n + 51, 75, |n| tone_frame(440.0, n));
    let heard = heard_since(&headset_ear, from);
    let hz = dominant_frequency(&heard, 48_000);
    println!("headset: {hz:?} Hz, rms {:.3}", rms(&heard));
    assert!(hz.is_some_and(|hz| (hz - 440.0).abs() < 5.0), "headset heard {hz:?} Hz");

    // The headset goes away. PulseAudio moves a stream whose sink is unloaded to the default sink itself
    // (the stream never fails, so the speaker's keeper has nothing to notice: its fall-back, shared with the
    // microphone and tested there, is for devices that end the stream, e.g. a USB headset straight on ALSA).
    // What must hold: the sound goes on, in the room.
    pulse.unload(headset).unwrap();
    let unplugged = Instant::now();
    feed(&mut speaker, n + 126, 150, |n| tone_frame(660.0, n));
    let heard = heard_since(&room_ear, unplugged);
    let tail = &heard[heard.len().saturating_sub(48_000)..];
    let hz = dominant_frequency(tail, 48_000);
    println!("room after the loss: {hz:?} Hz, notices {:?}", notices.lock().unwrap());
    assert!(hz.is_some_and(|hz| (hz - 660.0).abs() < 5.0), "the room heard {hz:?} Hz after the headset went");
    let latency = speaker.latency().unwrap_or_default();
    assert!(latency < Duration::from_millis(150), "latency back down after the move: {latency:?}");
}
