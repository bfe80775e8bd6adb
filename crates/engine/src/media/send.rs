//! Sending: a capture thread per source (sources block until their next frame), a video encoder thread,
//! and async writers that packetize into the RTP track. Keyframe requests from the peer reach the encoder.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use tincan_media::MediaError;
use tincan_media::codec::{
    Content, EncoderControl, EncoderSettings, EncoderThread, OpusEncoder, VideoCodec, video_encoder,
};
use tincan_media::frame::AUDIO_FRAME_SAMPLES;
use tincan_media::source::{AudioFeed, AudioSource, VideoSource};
use tincan_media::synthetic::FrameClock;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

use super::MediaCounters;
use crate::peer::{BandwidthTarget, is_keyframe_request};

/// Encoded frames waiting for the RTP writer; past this the encoder output is dropped (and a keyframe
/// follows), never queued without bound.
const WRITE_QUEUE: usize = 16;
/// Where the encoder starts: what the bandwidth estimate starts at, less room for audio and overhead.
pub const START_BITRATE: u32 = 800_000;
/// How often the encoder's target follows the bandwidth estimate.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// Video gets this share of the estimate, less what audio needs.
const VIDEO_SHARE: f64 = 0.9;
const AUDIO_RESERVE_BPS: f64 = 40_000.0;
const MAX_VIDEO_BPS: f64 = 2_500_000.0;
const MIN_VIDEO_BPS: f64 = 60_000.0;
/// Capture times kept for frames in the encoder (it holds one, the writer queue a few).
const CAPTURED_KEPT: usize = 32;

/// Where a sending track writes: the negotiated SSRC and payload type.
#[derive(Clone)]
pub struct Outlet {
    pub track: Arc<TrackLocalStaticSample>,
    pub ssrc: u32,
    pub payload_type: u8,
}

/// The links media goes to. Each encoded frame is written to every one of them: encoded once for everyone
/// (a browser encodes once per connection). Keyed by the link's serial.
struct Outlets<T> {
    list: Arc<Mutex<Vec<(u64, T)>>>,
}

// By hand: a derive would ask `T: Clone + Default` of the outlets themselves.
impl<T> Clone for Outlets<T> {
    fn clone(&self) -> Self {
        Outlets { list: self.list.clone() }
    }
}

impl<T> Default for Outlets<T> {
    fn default() -> Self {
        Outlets { list: Arc::default() }
    }
}

impl<T: Clone> Outlets<T> {
    fn snapshot(&self) -> Vec<(u64, T)> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn add(&self, serial: u64, outlet: T) {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).push((serial, outlet));
    }

    fn remove(&self, serial: u64) {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).retain(|(s, _)| *s != serial);
    }
}

/// One keyframe for everyone, however many ask: requests closer than this to the last one granted are
/// taken as asking for the same keyframe.
const KEYFRAME_GAP: Duration = Duration::from_millis(300);

/// Switches the front end flips (camera, microphone); the capture threads read them and report whether
/// their device delivers (`*_live`: false while a camera or microphone is gone, which the peer is told).
#[derive(Debug)]
pub struct SendSwitches {
    pub camera: AtomicBool,
    pub microphone: AtomicBool,
    pub camera_live: AtomicBool,
    pub microphone_live: AtomicBool,
    stop: AtomicBool,
}

impl Default for SendSwitches {
    fn default() -> Self {
        SendSwitches {
            camera: AtomicBool::new(true),
            microphone: AtomicBool::new(true),
            camera_live: AtomicBool::new(true),
            microphone_live: AtomicBool::new(true),
            stop: AtomicBool::new(false),
        }
    }
}

/// How long after capture each stream is sent (µs, smoothed): the peer's lip sync needs it, because
/// webrtc-rs ties its RTCP sender reports to the moment a packet is sent. Audio: the source's own delay
/// (a microphone's frame and buffering) plus Opus and the writer; video: the camera's plus encoding.
#[derive(Debug, Default)]
pub struct SendDelays {
    audio_us: AtomicU32,
    video_us: AtomicU32,
}

impl SendDelays {
    pub fn get(&self) -> (u32, u32) {
        (self.audio_us.load(Ordering::Relaxed), self.video_us.load(Ordering::Relaxed))
    }

    fn record(cell: &AtomicU32, captured: Instant) {
        let sample = captured.elapsed().as_micros().min(u32::MAX as u128) as f64;
        let old = cell.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { old as f64 + 0.05 * (sample - old as f64) };
        cell.store(new as u32, Ordering::Relaxed);
    }
}

/// The sending half of a call's media: one capture thread and one encoder per source, whose output goes to
/// every link added. Dropping it stops the threads (they end at their next frame).
pub struct Sender {
    switches: Arc<SendSwitches>,
    threads: Vec<JoinHandle<()>>,
    pub encoder: Arc<OnceLock<Arc<EncoderControl>>>,
    pub delays: Arc<SendDelays>,
    video: Outlets<(Outlet, BandwidthTarget)>,
    audio: Outlets<Outlet>,
    /// The codec the video encoder runs (links that negotiated another get no video).
    video_codec: Option<VideoCodec>,
    counters: Arc<MediaCounters>,
    last_keyframe: Arc<Mutex<Option<Instant>>>,
    /// What the video shows (the encoder tunes for it) and its frame rate.
    content: Content,
    fps: u32,
    /// This video's part of the video budget, in thousandths (a share takes most while it runs).
    budget: Arc<AtomicU32>,
    /// The video source ended by itself (a shared window closed), not because the sender stopped.
    video_ended: Arc<AtomicBool>,
    /// Sound mixed into what the microphone sends (a share's sound), while there is some.
    extra_audio: Arc<Mutex<Option<Box<dyn AudioFeed>>>>,
    /// The feed failed (and was let go) since last asked.
    extra_ended: Arc<AtomicBool>,
    /// Where encoded audio goes, once audio runs (the feed's clock writes there too).
    audio_tx: Option<mpsc::Sender<(Vec<u8>, Instant)>>,
    /// The feed's own clock runs (while the microphone delivers nothing).
    feed_clock: Arc<AtomicBool>,
}

impl Sender {
    pub fn new(switches: Arc<SendSwitches>, counters: Arc<MediaCounters>) -> Self {
        Sender {
            switches,
            threads: Vec::new(),
            encoder: Arc::default(),
            delays: Arc::default(),
            video: Outlets::default(),
            audio: Outlets::default(),
            video_codec: None,
            counters,
            last_keyframe: Arc::default(),
            content: Content::Camera,
            fps: 30,
            budget: Arc::new(AtomicU32::new(1000)),
            video_ended: Arc::default(),
            extra_audio: Arc::default(),
            extra_ended: Arc::default(),
            audio_tx: None,
            feed_clock: Arc::default(),
        }
    }

    /// Whether the video source ended by itself (a share's window was closed, the desktop ended the share).
    pub fn video_ended(&self) -> bool {
        self.video_ended.load(Ordering::Relaxed)
    }

    /// A sender for a screen share: encoder tuned for screen content, at `fps`.
    pub fn for_screen(switches: Arc<SendSwitches>, counters: Arc<MediaCounters>, fps: u32) -> Self {
        let mut sender = Sender::new(switches, counters);
        (sender.content, sender.fps) = (Content::Screen, fps);
        sender
    }

    /// This video's part of the bandwidth the links allow video (0.0–1.0): a share and the camera split it.
    pub fn set_budget(&self, part: f64) {
        self.budget.store((part.clamp(0.0, 1.0) * 1000.0) as u32, Ordering::Relaxed);
    }

    /// The codec video is encoded with, once video runs.
    pub fn video_codec(&self) -> Option<VideoCodec> {
        self.video_codec
    }

    /// Send video to one more link (whose track negotiated the encoder's codec); it gets a keyframe.
    pub fn add_video_link(&self, serial: u64, outlet: Outlet, bandwidth: BandwidthTarget) {
        self.video.add(serial, (outlet.clone(), bandwidth));
        // Keyframe requests (PLI/FIR) from this link; the task ends with the track.
        let (control_slot, counters, last) = (self.encoder.clone(), self.counters.clone(), self.last_keyframe.clone());
        tokio::spawn(async move {
            while let Some(event) = outlet.track.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(packets) = event
                    && packets.iter().any(|p| is_keyframe_request(p.as_ref()))
                {
                    MediaCounters::bump(&counters.keyframe_requests_received);
                    request_keyframe(&control_slot, &last);
                }
            }
        });
        // A keyframe for the newcomer, even if one just went to the others (before it was listening).
        if let Some(c) = self.encoder.get() {
            *self.last_keyframe.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            c.request_keyframe();
        }
    }

    /// Send audio to one more link.
    pub fn add_audio_link(&self, serial: u64, outlet: Outlet) {
        self.audio.add(serial, outlet);
    }

    /// Stop sending to a link (closed or replaced).
    pub fn remove_link(&self, serial: u64) {
        self.video.remove(serial);
        self.audio.remove(serial);
    }

    /// The next video frame is a keyframe (for everyone), unless one was just asked for.
    pub fn request_keyframe(&self) {
        request_keyframe(&self.encoder, &self.last_keyframe);
    }

    /// Start encoding video from `source` with `codec`, for the links added (now or later).
    pub fn start_video(&mut self, mut source: Box<dyn VideoSource>, codec: VideoCodec) {
        self.video_codec = Some(codec);
        let counters = self.counters.clone();
        let (content, fps, ended) = (self.content, self.fps, self.video_ended.clone());
        let (tx, rx) = mpsc::channel::<tincan_media::codec::EncodedVideo>(WRITE_QUEUE);
        let switches = self.switches.clone();
        let control_slot = self.encoder.clone();
        let thread_counters = counters.clone();
        // When each frame in the encoder was captured, by its media time (for the send delay).
        let captured = Arc::new(Mutex::new(VecDeque::<(Duration, Instant)>::with_capacity(CAPTURED_KEPT)));
        let for_thread = captured.clone();
        let span = tracing::Span::current();
        let thread = std::thread::Builder::new()
            .name(if content == Content::Screen { "screen-capture" } else { "video-capture" }.into())
            .spawn(move || {
                let _span = span.entered();
                let mut encoder: Option<EncoderThread> = None;
                let mut broken = false;
                pump(
                    &switches,
                    &switches.camera_live,
                    "video source",
                    || source.next_frame().map(|f| (f, captured_at(source.capture_delay()))),
                    |(frame, at)| {
                        if broken || !switches.camera.load(Ordering::Relaxed) {
                            return;
                        }
                        if let Ok(mut c) = for_thread.lock() {
                            if c.len() == CAPTURED_KEPT {
                                c.pop_front();
                            }
                            c.push_back((frame.timestamp, at));
                        }
                        if encoder.is_none() {
                            let settings = EncoderSettings {
                                width: frame.width,
                                height: frame.height,
                                fps,
                                bitrate_bps: START_BITRATE,
                                content,
                            };
                            let made = match video_encoder(codec, settings) {
                                Ok(e) => e,
                                Err(e) => {
                                    tracing::error!("cannot start the {codec} encoder: {e}");
                                    broken = true;
                                    return;
                                }
                            };
                            let tx = tx.clone();
                            let counters = thread_counters.clone();
                            let thread = EncoderThread::spawn(made, START_BITRATE, move |encoded| {
                                MediaCounters::bump(&counters.video_frames_sent);
                                if encoded.keyframe {
                                    MediaCounters::bump(&counters.video_keyframes_sent);
                                }
                                if tx.try_send(encoded).is_err() {
                                    tracing::debug!("RTP writer behind; frame dropped");
                                }
                            });
                            let _ = control_slot.set(thread.control());
                            encoder = Some(thread);
                        }
                        thread_counters.width_out.store(frame.width, Ordering::Relaxed);
                        thread_counters.height_out.store(frame.height, Ordering::Relaxed);
                        if let Some(e) = &encoder {
                            e.submit(frame);
                        }
                    },
                );
                if let Some(e) = encoder {
                    e.stop();
                }
                if !switches.stop.load(Ordering::Acquire) {
                    ended.store(true, Ordering::Relaxed);
                }
            })
            .expect("spawning a thread");
        self.threads.push(thread);

        // RTP writer: the same frame into every link's track (each packetizes with its own SSRC and payload
        // type). A link whose write fails is closing; the others go on.
        let outlets = self.video.clone();
        let delays = self.delays.clone();
        tokio::spawn(async move {
            let mut rx = rx;
            let mut last: Option<Duration> = None;
            while let Some(frame) = rx.recv().await {
                let duration = last.map_or(Duration::from_millis(33), |l| frame.timestamp.saturating_sub(l));
                last = Some(frame.timestamp);
                let at = captured.lock().ok().and_then(|c| c.iter().find(|(t, _)| *t == frame.timestamp).map(|c| c.1));
                let sample = Sample { data: Bytes::from(frame.data), duration, ..Sample::new(Instant::now()) };
                for (serial, (outlet, _)) in outlets.snapshot() {
                    let writer = outlet.track.sample_writer(outlet.ssrc, outlet.payload_type);
                    if let Err(e) = writer.write_sample(&sample).await {
                        tracing::debug!(serial, "video write failed: {e}");
                    }
                }
                if let Some(at) = at {
                    SendDelays::record(&delays.video_us, at);
                }
            }
        });

        // The encoder follows the weakest link's bandwidth estimate.
        let (control_slot, switches, follow_counters) = (self.encoder.clone(), self.switches.clone(), counters);
        let budget = self.budget.clone();
        let outlets = self.video.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FOLLOW_EVERY);
            while !switches.stop.load(Ordering::Acquire) {
                tick.tick().await;
                let Some(estimate) = outlets.snapshot().iter().map(|(_, (_, b))| b.bps()).reduce(f64::min) else {
                    continue;
                };
                follow_counters.target_bitrate.store(estimate as u32, Ordering::Relaxed);
                if let Some(c) = control_slot.get() {
                    let part = budget.load(Ordering::Relaxed) as f64 / 1000.0;
                    let video =
                        ((estimate * VIDEO_SHARE - AUDIO_RESERVE_BPS) * part).clamp(MIN_VIDEO_BPS, MAX_VIDEO_BPS);
                    c.set_bitrate(video as u32);
                }
            }
        });
    }

    /// Whether audio is being sent (the microphone's thread runs).
    pub fn audio_running(&self) -> bool {
        self.audio_tx.is_some()
    }

    /// Whether the feed failed (and was let go) since this was last asked.
    pub fn extra_audio_ended(&self) -> bool {
        self.extra_ended.swap(false, Ordering::Relaxed)
    }

    /// Mix `feed` into the audio sent from now on (a share's sound), or stop mixing. The microphone's frames
    /// pace it (muted, they are silenced first); while the microphone delivers nothing (unplugged, none at
    /// all), a clock of the feed's own sends it.
    pub fn set_extra_audio(&self, feed: Option<Box<dyn AudioFeed>>) {
        let starting = feed.is_some();
        *self.extra_audio.lock().unwrap_or_else(|p| p.into_inner()) = feed;
        if starting {
            self.start_feed_clock();
        }
    }

    /// The feed's clock: every 20 ms while a feed is set, a frame of it alone when the microphone is not
    /// delivering (its own thread would send nothing). Ends when the feed goes.
    fn start_feed_clock(&self) {
        let Some(tx) = self.audio_tx.clone() else { return };
        if self.feed_clock.swap(true, Ordering::AcqRel) {
            return;
        }
        let (extra, ended, running) = (self.extra_audio.clone(), self.extra_ended.clone(), self.feed_clock.clone());
        let (switches, counters) = (self.switches.clone(), self.counters.clone());
        let span = tracing::Span::current();
        let spawned = std::thread::Builder::new().name("share-sound".into()).spawn(move || {
            let _span = span.entered();
            let mut encoder = match OpusEncoder::new(32_000) {
                Ok(e) => e,
                Err(e) => return tracing::error!("cannot start the Opus encoder: {e}"),
            };
            let mut clock = FrameClock::new(Duration::from_millis(20), true);
            loop {
                let (_, timestamp) = clock.tick();
                let set = extra.lock().map(|e| e.is_some()).unwrap_or(false);
                if switches.stop.load(Ordering::Acquire) || !set {
                    running.store(false, Ordering::Release);
                    // A feed set just now saw the clock still running: go on for it.
                    let set_again = extra.lock().map(|e| e.is_some()).unwrap_or(false);
                    if switches.stop.load(Ordering::Acquire) || !set_again || running.swap(true, Ordering::AcqRel) {
                        return;
                    }
                }
                if switches.microphone_live.load(Ordering::Relaxed) {
                    continue; // the microphone's frames carry it
                }
                let mut frame = tincan_media::AudioFrame { timestamp, samples: vec![0; AUDIO_FRAME_SAMPLES] };
                if !mix_feed(&extra, &mut frame.samples, false, &ended) {
                    continue;
                }
                match encoder.encode(&frame) {
                    Ok(packet) => {
                        MediaCounters::bump(&counters.audio_frames_sent);
                        let _ = tx.try_send((packet, Instant::now()));
                    }
                    Err(e) => tracing::warn!("{e}"),
                }
            }
        });
        if let Err(e) = spawned {
            self.feed_clock.store(false, Ordering::Release);
            tracing::error!("cannot start the share's sound clock: {e}");
        }
    }

    /// Start encoding audio from `source` (the microphone) as Opus, for the links added (now or later).
    pub fn start_audio(&mut self, mut source: Box<dyn AudioSource>) {
        let (extra, ended) = (self.extra_audio.clone(), self.extra_ended.clone());
        let counters = self.counters.clone();
        let (tx, mut rx) = mpsc::channel::<(Vec<u8>, Instant)>(WRITE_QUEUE);
        self.audio_tx = Some(tx.clone());
        let switches = self.switches.clone();
        let span = tracing::Span::current();
        let thread = std::thread::Builder::new()
            .name("audio-capture".into())
            .spawn(move || {
                let _span = span.entered();
                let mut encoder = match OpusEncoder::new(32_000) {
                    Ok(e) => e,
                    Err(e) => return tracing::error!("cannot start the Opus encoder: {e}"),
                };
                pump(
                    &switches,
                    &switches.microphone_live,
                    "audio source",
                    || source.next_frame().map(|f| (f, captured_at(source.capture_delay()))),
                    |(mut frame, at): (tincan_media::AudioFrame, Instant)| {
                        let voice = switches.microphone.load(Ordering::Relaxed);
                        if !mix_feed(&extra, &mut frame.samples, voice, &ended) {
                            return;
                        }
                        match encoder.encode(&frame) {
                            Ok(packet) => {
                                MediaCounters::bump(&counters.audio_frames_sent);
                                let _ = tx.try_send((packet, at));
                            }
                            Err(e) => tracing::warn!("{e}"),
                        }
                    },
                );
            })
            .expect("spawning a thread");
        self.threads.push(thread);
        let delays = self.delays.clone();
        let outlets = self.audio.clone();
        tokio::spawn(async move {
            while let Some((packet, at)) = rx.recv().await {
                let sample = Sample {
                    data: Bytes::from(packet),
                    duration: Duration::from_millis(20),
                    ..Sample::new(Instant::now())
                };
                for (serial, outlet) in outlets.snapshot() {
                    let writer = outlet.track.sample_writer(outlet.ssrc, outlet.payload_type);
                    if let Err(e) = writer.write_sample(&sample).await {
                        tracing::debug!(serial, "audio write failed: {e}");
                    }
                }
                SendDelays::record(&delays.audio_us, at);
            }
        });
    }
}

/// Mix a share's sound, if one is set, into a frame of the microphone (`voice`: the microphone is on; off,
/// its samples are silenced first). Whether the frame goes out: muted without a feed, nothing leaves this
/// machine (not silence sent). A feed that fails is let go, and `ended` says so.
fn mix_feed(feed: &Mutex<Option<Box<dyn AudioFeed>>>, samples: &mut [i16], voice: bool, ended: &AtomicBool) -> bool {
    let mut slot = feed.lock().unwrap_or_else(|p| p.into_inner());
    let Some(f) = slot.as_mut() else { return voice };
    if !voice {
        samples.fill(0);
    }
    if let Err(e) = f.mix_into(samples) {
        tracing::warn!("{} stopped: {e}", f.describe());
        *slot = None;
        ended.store(true, Ordering::Relaxed);
        return voice;
    }
    true
}

/// Ask the encoder for a keyframe unless one was granted within [`KEYFRAME_GAP`].
fn request_keyframe(encoder: &OnceLock<Arc<EncoderControl>>, last: &Mutex<Option<Instant>>) {
    let Some(c) = encoder.get() else { return };
    let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
    if last.is_none_or(|t| t.elapsed() >= KEYFRAME_GAP) {
        *last = Some(Instant::now());
        c.request_keyframe();
    }
}

/// When a frame just returned by a source was captured.
fn captured_at(delay: Option<Duration>) -> Instant {
    let now = Instant::now();
    delay.and_then(|d| now.checked_sub(d)).unwrap_or(now)
}

/// Pull frames until the sender stops or the source ends. A failing source is retried after a pause: a
/// device may come back. `live` says whether the source delivers.
fn pump<T>(
    switches: &SendSwitches,
    live: &AtomicBool,
    what: &str,
    mut next: impl FnMut() -> tincan_media::Result<T>,
    mut each: impl FnMut(T),
) {
    while !switches.stop.load(Ordering::Acquire) {
        match next() {
            Ok(frame) => {
                live.store(true, Ordering::Relaxed);
                each(frame)
            }
            Err(MediaError::Ended) => break,
            Err(e) => {
                if live.swap(false, Ordering::Relaxed) {
                    tracing::warn!("{what}: {e}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.switches.stop.store(true, Ordering::Release);
        // The feed's device goes now, not at the audio thread's next frame.
        self.set_extra_audio(None);
        // The threads end within one frame interval; joining here would block an async task.
        self.threads.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds a constant, or fails.
    struct Feed(Option<i16>);

    impl AudioFeed for Feed {
        fn mix_into(&mut self, out: &mut [i16]) -> tincan_media::Result<()> {
            let add = self.0.ok_or_else(|| MediaError::Device("unplugged".into()))?;
            out.iter_mut().for_each(|s| *s += add);
            Ok(())
        }

        fn describe(&self) -> String {
            "a test feed".into()
        }
    }

    #[test]
    fn muted_sends_nothing_without_a_feed_and_only_the_feed_with_one() {
        let (slot, ended) = (Mutex::new(None::<Box<dyn AudioFeed>>), AtomicBool::new(false));
        let mut voice = vec![1000i16; 4];
        assert!(mix_feed(&slot, &mut voice, true, &ended), "the microphone alone goes out");
        assert_eq!(voice, [1000; 4]);
        assert!(!mix_feed(&slot, &mut voice, false, &ended), "muted, nothing goes out");
        *slot.lock().unwrap() = Some(Box::new(Feed(Some(7))));
        assert!(mix_feed(&slot, &mut voice, true, &ended));
        assert_eq!(voice, [1007; 4], "the feed is added to the voice");
        let mut muted = vec![1000i16; 4];
        assert!(mix_feed(&slot, &mut muted, false, &ended), "muted, the feed still goes");
        assert_eq!(muted, [7; 4], "the muted voice is not in it");
        assert!(!ended.load(Ordering::Relaxed));
    }

    /// A microphone that delivers nothing (unplugged, or none at all).
    struct Silent;

    impl AudioSource for Silent {
        fn next_frame(&mut self) -> tincan_media::Result<tincan_media::AudioFrame> {
            std::thread::sleep(Duration::from_millis(50));
            Err(MediaError::Device("no microphone".into()))
        }

        fn describe(&self) -> String {
            "no microphone".into()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_feed_goes_out_on_its_own_clock_while_the_microphone_delivers_nothing() {
        let counters = Arc::new(MediaCounters::default());
        let mut sender = Sender::new(Arc::default(), counters.clone());
        sender.start_audio(Box::new(Silent));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(counters.audio_frames_sent.load(Ordering::Relaxed), 0, "nothing to send yet");
        sender.set_extra_audio(Some(Box::new(Feed(Some(7)))));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent = counters.audio_frames_sent.load(Ordering::Relaxed);
        assert!((10..=30).contains(&sent), "the feed's frames, 50 a second: {sent} in 0.5 s");
        sender.set_extra_audio(None);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped = counters.audio_frames_sent.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(counters.audio_frames_sent.load(Ordering::Relaxed), stopped, "nothing once the feed went");
        assert!(!sender.feed_clock.load(Ordering::Relaxed), "its clock ended");
    }

    #[test]
    fn a_failing_feed_is_let_go_and_said() {
        let slot = Mutex::new(Some(Box::new(Feed(None)) as Box<dyn AudioFeed>));
        let ended = AtomicBool::new(false);
        let mut muted = vec![1000i16; 4];
        assert!(!mix_feed(&slot, &mut muted, false, &ended), "muted, and the feed gone: nothing goes out");
        assert!(slot.lock().unwrap().is_none() && ended.load(Ordering::Relaxed));
    }
}
