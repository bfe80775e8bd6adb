//! Two engines call through the signaling server (ICE on loopback, DTLS-SRTP): the receiver decodes the
//! sender's test pattern in order and hears its tone.

mod common;

use std::time::Duration;

use common::*;
use tincan_media::analysis::dominant_frequency;
use tincan_media::codec::VideoCodec;

async fn call_carries_pattern_and_tone(codec: VideoCodec) {
    let server = server().await;
    let url = server.ws_url();
    let a = PeerOptions { codec, tone_hz: 440.0, ..Default::default() };
    let b = PeerOptions { codec, tone_hz: 660.0, ..Default::default() };
    let mut p = connected_pair(&url, a, b).await;
    if std::env::var("TINCAN_DEBUG_STATS").is_ok() {
        for _ in 0..4 {
            let s = until(&mut p.a_events, "stats", |e| match e {
                tincan_engine::EngineEvent::Stats(s) => Some(s.clone()),
                _ => None,
            })
            .await;
            eprintln!("A stats {s:?}");
        }
    }
    // Both directions, 3 s each way.
    let at_b = tokio::task::spawn_blocking(move || {
        let stamps = stamps_for(&p.b_got.stamps, Duration::from_secs(3));
        let audio = audio_for(&p.b_got.audio, Duration::from_millis(500));
        (stamps, audio, p.b_got)
    });
    let at_a = tokio::task::spawn_blocking(move || {
        let stamps = stamps_for(&p.a_got.stamps, Duration::from_secs(3));
        let audio = audio_for(&p.a_got.audio, Duration::from_millis(500));
        (stamps, audio, p.a_got)
    });
    let (b_stamps, b_audio, _) = at_b.await.unwrap();
    let (a_stamps, a_audio, _) = at_a.await.unwrap();
    for (who, stamps, audio, hz) in [("B", &b_stamps, &b_audio, 440.0), ("A", &a_stamps, &a_audio, 660.0)] {
        let counters: Vec<u32> = stamps.iter().filter_map(|(s, _)| s.map(|s| s.counter)).collect();
        assert!(
            counters.len() >= 60,
            "{codec} at {who}: {} of {} frames carried a readable stamp",
            counters.len(),
            stamps.len()
        );
        assert!(counters.windows(2).all(|w| w[1] > w[0]), "{codec} at {who}: counters in order");
        let gaps = counters.windows(2).filter(|w| w[1] != w[0] + 1).count();
        eprintln!("{codec} at {who}: {} frames, {gaps} gaps", counters.len());
        assert!(gaps <= 5, "{codec} at {who}: {gaps} gaps");
        let f = dominant_frequency(audio, 48_000).expect("audio is not silent");
        assert!((f - hz).abs() < 10.0, "{codec} at {who}: heard {f:.1} Hz, sent {hz} Hz");
    }
    let stats = until(&mut p.a_events, "stats", |e| match e {
        tincan_engine::EngineEvent::Stats(s) if s.fps_in > 0.0 => Some(s.clone()),
        _ => None,
    })
    .await;
    assert_eq!(stats.video_codec.as_deref(), Some(codec.name()));
    assert!(stats.target_kbps.is_some_and(|k| (100..=4000).contains(&k)), "a bandwidth estimate: {stats:?}");
    let pair = stats.candidate_pair.expect("a selected pair");
    assert_eq!((pair.local_type.as_str(), pair.remote_type.as_str()), ("host", "host"));
    p.a.hang_up();
    assert_eq!(state(&mut p.a_events, "ended").await.as_deref(), Some("hung_up"));
    assert_eq!(state(&mut p.b_events, "ended").await.as_deref(), Some("remote_hung_up"));
    server.shutdown().await;
}

// One test for both codecs: run side by side, four encoders and four decoders on two cores would drop
// frames for want of CPU, which says nothing about the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_carry_pattern_and_tone_with_each_codec() {
    call_carries_pattern_and_tone(VideoCodec::Vp8).await;
    call_carries_pattern_and_tone(VideoCodec::H264).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muting_stops_sending_and_the_other_side_is_told() {
    let server = server().await;
    let mut p = connected_pair(&server.ws_url(), PeerOptions::default(), PeerOptions::default()).await;
    let remote_media = |want: (bool, bool)| {
        move |e: &tincan_engine::EngineEvent| match e {
            tincan_engine::EngineEvent::RemoteMedia { audio, video, .. } if (*audio, *video) == want => Some(()),
            _ => None,
        }
    };
    until(&mut p.b_events, "A's media on", remote_media((true, true))).await;
    p.a.set_microphone(false).unwrap();
    p.a.set_camera(false).unwrap();
    until(&mut p.b_events, "A muted", remote_media((false, false))).await;
    let b_got = p.b_got;
    let (b_got, frames, audio) = tokio::task::spawn_blocking(move || {
        // Let what was in flight arrive, then listen: nothing more may come.
        std::thread::sleep(Duration::from_millis(300));
        while b_got.stamps.try_recv().is_ok() || b_got.audio.try_recv().is_ok() {}
        let frames = stamps_for(&b_got.stamps, Duration::from_secs(1)).len();
        let audio = audio_for(&b_got.audio, Duration::from_millis(10)).len();
        (b_got, frames, audio)
    })
    .await
    .unwrap();
    assert_eq!((frames, audio), (0, 0), "muted media must not be sent");
    p.a.set_camera(true).unwrap();
    until(&mut p.b_events, "camera back", remote_media((false, true))).await;
    let resumed = tokio::task::spawn_blocking(move || stamps_for(&b_got.stamps, Duration::from_secs(1))).await.unwrap();
    assert!(resumed.iter().filter(|(s, _)| s.is_some()).count() >= 15, "video resumes after the camera is back");
    p.a.hang_up();
    state(&mut p.b_events, "ended").await;
    server.shutdown().await;
}

/// Lip sync: B's speaker says audio is heard 150 ms after it gets it (the end of each frame); B must hold video frames until the
/// audio taken with them is heard. The pattern's stamps carry their capture time, so the age of each frame
/// when B's sink gets it shows the hold. Without lip sync the age is the few ms of encode and decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_waits_for_the_audio_it_belongs_with() {
    const SPEAKER: Duration = Duration::from_millis(150);
    let server = server().await;
    let b = PeerOptions { speaker_latency: Some(SPEAKER), ..Default::default() };
    let mut p = connected_pair(&server.ws_url(), PeerOptions::default(), b).await;
    // Sender reports come every second: sync starts after the first of each stream.
    let stats = until(&mut p.b_events, "lip sync at work", |e| match e {
        tincan_engine::EngineEvent::Stats(s) if s.sync_video_hold_ms.is_some() => Some(s.clone()),
        _ => None,
    })
    .await;
    eprintln!("B: video held {:?} ms, audio delayed {:?} ms", stats.sync_video_hold_ms, stats.sync_audio_delay_ms);
    let b_got = p.b_got;
    let stamps = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(1500)); // the audio offset settles
        while b_got.stamps.try_recv().is_ok() {}
        stamps_for(&b_got.stamps, Duration::from_secs(2))
    })
    .await
    .unwrap();
    let mut ages: Vec<f64> = stamps.iter().filter_map(|(s, at)| s.map(|s| s.age_us(*at) as f64 / 1000.0)).collect();
    assert!(ages.len() >= 40, "{} frames in 2 s", ages.len());
    ages.sort_by(f64::total_cmp);
    let (p50, p95) = (ages[ages.len() / 2], ages[ages.len() * 95 / 100]);
    eprintln!("B: capture → shown p50 {p50:.1} ms, p95 {p95:.1} ms ({} frames), speaker {SPEAKER:?}", ages.len());
    // The audio took a few ms to reach B's sink; the last sample of each 20 ms frame is heard 150 ms later,
    // so its first — taken with the video frame of that moment — 130 ms later: the video belongs there too.
    let heard_ms = SPEAKER.as_secs_f64() * 1000.0 - 20.0;
    let skew = p50 - heard_ms;
    assert!(skew.abs() <= 45.0, "video shown {skew:+.1} ms from its audio (p50 age {p50:.1} ms)");
    let stats = until(&mut p.b_events, "stats", |e| match e {
        tincan_engine::EngineEvent::Stats(s) => Some(s.clone()),
        _ => None,
    })
    .await;
    let hold = stats.sync_video_hold_ms.expect("sync still at work");
    assert!(hold > 100.0, "the stats show the hold: {hold} ms");
    assert_eq!(stats.sync_audio_delay_ms, Some(0.0), "video is not late: audio is not delayed");
    p.a.hang_up();
    state(&mut p.b_events, "ended").await;
    server.shutdown().await;
}

/// A camera that can be "unplugged": while gone it reports a device error, as the real camera source does.
struct Unpluggable {
    pattern: tincan_media::synthetic::TestPattern,
    gone: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl tincan_media::source::VideoSource for Unpluggable {
    fn next_frame(&mut self) -> tincan_media::Result<tincan_media::VideoFrame> {
        if self.gone.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            return Err(tincan_media::MediaError::Device("camera unplugged".into()));
        }
        self.pattern.next_frame()
    }

    fn describe(&self) -> String {
        "unpluggable pattern".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_goes_away_shows_as_camera_off_until_it_is_back() {
    let server = server().await;
    let url = server.ws_url();
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut ca, _a_got) = config(&url, "Ada", &PeerOptions::default());
    ca.video_source = Some(Box::new(Unpluggable {
        pattern: tincan_media::synthetic::TestPattern::new(320, 240, 30, true).unwrap(),
        gone: gone.clone(),
    }));
    let (cb, b_got) = config(&url, "Bo", &PeerOptions::default());
    let room = tincan_signal::code::RoomCode::generate();
    let (a, mut a_events) =
        tincan_engine::Call::start(ca, tincan_engine::Target::Room { code: room.clone(), create: true });
    state(&mut a_events, "waiting").await;
    let (_b, mut b_events) = tincan_engine::Call::start(cb, tincan_engine::Target::Room { code: room, create: false });
    connected(&mut b_events).await;
    let remote_media = |want: (bool, bool)| {
        move |e: &tincan_engine::EngineEvent| match e {
            tincan_engine::EngineEvent::RemoteMedia { audio, video, .. } if (*audio, *video) == want => Some(()),
            _ => None,
        }
    };
    until(&mut b_events, "A's media on", remote_media((true, true))).await;
    gone.store(true, std::sync::atomic::Ordering::SeqCst);
    until(&mut b_events, "A's camera off", remote_media((true, false))).await;
    until(&mut a_events, "A told", |e| match e {
        tincan_engine::EngineEvent::Sources { camera: false, microphone: true } => Some(()),
        _ => None,
    })
    .await;
    gone.store(false, std::sync::atomic::Ordering::SeqCst);
    until(&mut b_events, "A's camera back", remote_media((true, true))).await;
    until(&mut a_events, "A told it is back", |e| match e {
        tincan_engine::EngineEvent::Sources { camera: true, microphone: true } => Some(()),
        _ => None,
    })
    .await;
    let resumed = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(300));
        while b_got.stamps.try_recv().is_ok() {}
        stamps_for(&b_got.stamps, Duration::from_secs(1))
    })
    .await
    .unwrap();
    assert!(resumed.iter().filter(|(s, _)| s.is_some()).count() >= 15, "video resumes: {}", resumed.len());
    a.hang_up();
    state(&mut b_events, "ended").await;
    server.shutdown().await;
}

/// A voice processor as the devices give one: what it reports about itself.
struct Canceller(tincan_media::voice::ProcessingStats);

impl tincan_media::voice::VoiceMonitor for Canceller {
    fn stats(&self) -> tincan_media::voice::ProcessingStats {
        self.0
    }
}

/// The call's stats carry what the echo canceller the front end gave it reports (the app's stats panel shows
/// it); a call given none says nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_say_what_the_echo_canceller_sees() {
    let server = server().await;
    let seen = tincan_media::voice::ProcessingStats {
        erle_db: Some(31.5),
        delay_ms: Some(24),
        divergent: Some(0.05),
        far_dropped_ms: 20.0,
        ..Default::default()
    };
    let a = PeerOptions { voice_monitor: Some(std::sync::Arc::new(Canceller(seen))), ..Default::default() };
    let mut p = connected_pair(&server.ws_url(), a, PeerOptions::default()).await;
    let at_a = until(&mut p.a_events, "A's stats", |e| match e {
        tincan_engine::EngineEvent::Stats(s) => Some(s.voice_processing),
        _ => None,
    })
    .await;
    assert_eq!(at_a, Some(seen));
    let at_b = until(&mut p.b_events, "B's stats", |e| match e {
        tincan_engine::EngineEvent::Stats(s) => Some(s.voice_processing),
        _ => None,
    })
    .await;
    assert_eq!(at_b, None);
    p.a.hang_up();
    server.shutdown().await;
}
