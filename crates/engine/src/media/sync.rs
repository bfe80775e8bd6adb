//! Lip sync: show each video frame when the audio captured at the same moment is heard.
//!
//! Audio and video are separate RTP streams with their own clocks (48 kHz, 90 kHz) and random offsets;
//! the sender's RTCP sender reports tie each stream's RTP time to its wall clock (NTP). With both tied,
//! the receiver knows which audio a video frame belongs with. The audio path tells when the audio it just
//! handed to its sink will be heard (the sink's [`latency`](tincan_media::source::AudioSink::latency)):
//! that gives the offset between the sender's clock and the moment of hearing. A decoded video frame is
//! then due at its own sender time plus that offset:
//!
//! * due later than it is ready (the usual case: audio waits in the playout buffer and the device) → the
//!   presenter holds it until then (at most [`MAX_HOLD`]);
//! * ready after it is due (video is the slower path: waiting for retransmissions, slow decoding) → audio
//!   is asked to wait longer ([`LipSync::audio_minimum_delay`]), in steps, and gives it back when video
//!   has to be held again.
//!
//! This is the shape of WebRTC's `RtpStreamsSynchronizer`. Pure state with the caller's clock; the receive
//! tasks share one per call under a mutex. webrtc-rs ties a sender report to the moment the last packet
//! was *sent*, not captured, so each stream's capture-to-send time (a microphone's 20 ms frame plus its
//! buffering and device latency; a camera's hand-off and conversion plus the encoder: 1.4–3 ms at 320x240,
//! ~11 ms at 720p) would be an error here: a Tincan sender measures both and says them on the control
//! channel ([`LipSync::set_sender_delays`]).

use std::time::{Duration, Instant};

/// Never hold a frame longer than this (a wrong report must not freeze the picture).
pub const MAX_HOLD: Duration = Duration::from_millis(500);
/// At most this much extra audio delay for video's sake.
const MAX_AUDIO_DELAY: Duration = Duration::from_millis(300);
/// Lip-sync errors below this are left alone (viewers do not see them; it avoids hunting).
const DEAD_BAND_US: f64 = 15_000.0;
/// How far the audio delay moves per adjustment, and how often it is adjusted.
const STEP_US: f64 = 20_000.0;
const ADJUST_EVERY: Duration = Duration::from_millis(500);
/// Without audio for this long there is nothing to sync with: video shows as soon as it is decoded.
const AUDIO_STALE: Duration = Duration::from_secs(3);
/// A change of the audio offset bigger than this is a new situation (a new stream, a device switch), not
/// jitter: the smoothing starts over.
const OFFSET_JUMP_US: f64 = 200_000.0;
/// Smoothing of the audio offset and of video's lateness (per frame).
const OFFSET_SMOOTHING: f64 = 0.05;
const LATENESS_SMOOTHING: f64 = 0.1;

/// One stream's RTP clock tied to the sender's wall clock by its latest sender report.
#[derive(Debug, Clone, Copy)]
pub struct SenderClock {
    rate: u32,
    /// (RTP time, sender wall clock in µs) of the latest report.
    anchor: Option<(u32, i64)>,
}

impl SenderClock {
    pub fn new(rate: u32) -> Self {
        SenderClock { rate: rate.max(1), anchor: None }
    }

    /// A sender report: `ntp_time` is the 64-bit NTP timestamp (32.32 fixed point seconds).
    pub fn on_report(&mut self, rtp_time: u32, ntp_time: u64) {
        let seconds = (ntp_time >> 32) as i64;
        let fraction = ((ntp_time & 0xffff_ffff) * 1_000_000) >> 32;
        self.anchor = Some((rtp_time, seconds * 1_000_000 + fraction as i64));
    }

    /// The stream jumped in a way the last report does not cover (the sender paused it): wait for the next.
    pub fn forget(&mut self) {
        self.anchor = None;
    }

    /// When (sender wall clock, µs) the sample with this RTP time was taken; `None` before any report.
    /// RTP times within ±2^31 ticks of the report (6.6 h of video) are placed correctly across wrap-around.
    pub fn sender_time(&self, rtp_time: u32) -> Option<i64> {
        let (anchor_rtp, anchor_us) = self.anchor?;
        let ticks = rtp_time.wrapping_sub(anchor_rtp) as i32 as i64;
        Some(anchor_us + ticks * 1_000_000 / self.rate as i64)
    }
}

/// What the lip sync is doing now, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SyncState {
    /// How long the latest video frame was held for its audio (ms).
    pub video_hold_ms: f64,
    /// Extra delay asked of the audio for video's sake (ms).
    pub audio_delay_ms: f64,
    /// How much later than its audio video is ready (ms, smoothed; negative: earlier, and held).
    pub video_late_ms: f64,
    /// Whether both streams are tied (reports from both, audio heard lately).
    pub active: bool,
}

pub struct LipSync {
    origin: Instant,
    pub audio: SenderClock,
    pub video: SenderClock,
    /// The sender's capture-to-send time of each stream (µs).
    sender_delays: (i64, i64),
    /// Moment of hearing minus sender time of the audio (µs since `origin` minus sender µs), smoothed; and
    /// when it was last measured.
    audio_offset: Option<(f64, Instant)>,
    /// How much later than its due time video becomes ready (µs, negative: held), smoothed.
    video_lateness: Option<f64>,
    audio_delay: Duration,
    last_adjusted: Option<Instant>,
    state: SyncState,
}

impl LipSync {
    pub fn new(now: Instant) -> Self {
        LipSync {
            origin: now,
            audio: SenderClock::new(48_000),
            video: SenderClock::new(90_000),
            sender_delays: (0, 0),
            audio_offset: None,
            video_lateness: None,
            audio_delay: Duration::ZERO,
            last_adjusted: None,
            state: SyncState::default(),
        }
    }

    fn local_us(&self, at: Instant) -> f64 {
        if at >= self.origin {
            at.duration_since(self.origin).as_micros() as f64
        } else {
            -(self.origin.duration_since(at).as_micros() as f64)
        }
    }

    /// The sender says how long after capture it sends audio and video.
    pub fn set_sender_delays(&mut self, audio: Duration, video: Duration) {
        self.sender_delays = (audio.as_micros() as i64, video.as_micros() as i64);
    }

    /// The audio sample with RTP time `rtp_time` will be heard at `heard_at`.
    pub fn audio_heard(&mut self, rtp_time: u32, heard_at: Instant) {
        let Some(sent) = self.audio.sender_time(rtp_time).map(|t| t - self.sender_delays.0) else {
            return;
        };
        let offset = self.local_us(heard_at) - sent as f64;
        let smoothed = match self.audio_offset {
            Some((old, _)) if (offset - old).abs() < OFFSET_JUMP_US => old + OFFSET_SMOOTHING * (offset - old),
            _ => offset,
        };
        self.audio_offset = Some((smoothed, heard_at));
    }

    /// A video frame with RTP time `rtp_time` is decoded and ready at `ready`: when to show it.
    pub fn video_due(&mut self, rtp_time: u32, ready: Instant) -> Instant {
        let sent = self.video.sender_time(rtp_time).map(|t| t - self.sender_delays.1);
        let (Some(sent), Some((offset, heard))) = (sent, self.audio_offset) else {
            self.state.active = false;
            return ready;
        };
        if ready.saturating_duration_since(heard) > AUDIO_STALE {
            self.state.active = false;
            self.video_lateness = None;
            return ready;
        }
        self.state.active = true;
        let due_us = sent as f64 + offset;
        let lateness = self.local_us(ready) - due_us;
        let smoothed = match self.video_lateness {
            Some(old) => old + LATENESS_SMOOTHING * (lateness - old),
            None => lateness,
        };
        self.video_lateness = Some(smoothed);
        self.state.video_late_ms = smoothed / 1000.0;
        let hold = Duration::from_micros((-lateness).max(0.0) as u64).min(MAX_HOLD);
        self.state.video_hold_ms = hold.as_secs_f64() * 1000.0;
        ready + hold
    }

    /// The extra delay the audio sink should hold, adjusted in steps while video is late (and given back
    /// while video is being held). Only for a sink that plays (one with a latency): asking anything else
    /// to wait would change nothing, and the stats would say it did.
    pub fn audio_minimum_delay(&mut self, now: Instant) -> Duration {
        let due = self.last_adjusted.is_none_or(|t| now.duration_since(t) >= ADJUST_EVERY);
        if let (true, true, Some(late)) = (due, self.state.active, self.video_lateness) {
            self.last_adjusted = Some(now);
            let step = Duration::from_micros(late.abs().min(STEP_US) as u64);
            if late > DEAD_BAND_US {
                self.audio_delay = (self.audio_delay + step).min(MAX_AUDIO_DELAY);
            } else if late < -DEAD_BAND_US {
                self.audio_delay = self.audio_delay.saturating_sub(step);
            }
        }
        self.state.audio_delay_ms = self.audio_delay.as_secs_f64() * 1000.0;
        self.audio_delay
    }

    pub fn state(&self) -> SyncState {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// NTP time for `seconds` (as a sender report writes it).
    fn ntp(seconds: f64) -> u64 {
        let whole = seconds.floor();
        ((whole as u64) << 32) | (((seconds - whole) * 4_294_967_296.0) as u64)
    }

    /// A sender whose audio RTP clock starts at 1000 and video at 4_000_000_000 (wraps after 3.3 s).
    fn synced(now: Instant) -> LipSync {
        let mut sync = LipSync::new(now);
        sync.audio.on_report(1000, ntp(100.0));
        sync.video.on_report(4_000_000_000, ntp(100.0));
        sync
    }

    fn audio_rtp(at_s: f64) -> u32 {
        1000 + (at_s * 48_000.0) as u32
    }

    fn video_rtp(at_s: f64) -> u32 {
        4_000_000_000u32.wrapping_add((at_s * 90_000.0) as u32)
    }

    #[test]
    fn reports_place_rtp_times_on_the_senders_clock_across_wrap_around() {
        let mut clock = SenderClock::new(90_000);
        assert_eq!(clock.sender_time(5), None);
        clock.on_report(u32::MAX - 89_999, ntp(10.5));
        assert_eq!(clock.sender_time(u32::MAX - 89_999), Some(10_500_000));
        assert_eq!(clock.sender_time(90_000), Some(12_500_000)); // 2 s later, past the wrap
        assert_eq!(clock.sender_time(u32::MAX - 179_999), Some(9_500_000));
    }

    #[test]
    fn video_waits_for_the_audio_it_belongs_with() {
        let t0 = Instant::now();
        let mut sync = synced(t0);
        // Audio taken at sender time 0.0 s (after the report) is heard 120 ms after it was taken,
        // video of the same moment is ready after 30 ms: it must wait 90 ms.
        for i in 0..50 {
            let at = i as f64 * 0.02;
            sync.audio_heard(audio_rtp(at), t0 + Duration::from_secs_f64(at) + 120 * MS);
        }
        let ready = t0 + Duration::from_secs_f64(1.0) + 30 * MS;
        let due = sync.video_due(video_rtp(1.0), ready);
        assert_eq!(due.duration_since(ready).as_millis(), 90);
        assert!(sync.state().active);
        assert_eq!(sync.audio_minimum_delay(ready), Duration::ZERO, "video held: no audio delay");
    }

    #[test]
    fn without_reports_or_audio_video_shows_at_once() {
        let t0 = Instant::now();
        let mut sync = LipSync::new(t0);
        assert_eq!(sync.video_due(123, t0), t0);
        sync.video.on_report(0, ntp(1.0));
        assert_eq!(sync.video_due(123, t0), t0, "no audio heard yet");
        let mut sync = synced(t0);
        sync.audio_heard(audio_rtp(0.0), t0 + 100 * MS);
        let later = t0 + 100 * MS + AUDIO_STALE + MS;
        assert_eq!(sync.video_due(video_rtp(3.2), later), later, "audio went quiet long ago");
        assert!(!sync.state().active);
    }

    #[test]
    fn the_senders_capture_to_send_times_are_taken_off() {
        let t0 = Instant::now();
        let mut sync = synced(t0);
        // Audio left the sender 40 ms after capture, video 10 ms: with the reports tied to sending, both
        // look later than they were; audio by 30 ms more.
        sync.set_sender_delays(40 * MS, 10 * MS);
        sync.audio_heard(audio_rtp(0.04), t0 + 150 * MS); // taken at 0.0 s, heard 150 ms later
        let ready = t0 + 20 * MS; // the video of 0.0 s (sent at 0.01 s) decoded at 20 ms
        assert_eq!(sync.video_due(video_rtp(0.01), ready), t0 + 150 * MS);
    }

    #[test]
    fn a_hold_never_exceeds_the_limit() {
        let t0 = Instant::now();
        let mut sync = synced(t0);
        sync.audio_heard(audio_rtp(0.0), t0 + 2000 * MS);
        let due = sync.video_due(video_rtp(0.0), t0 + 10 * MS);
        assert_eq!(due, t0 + 10 * MS + MAX_HOLD);
    }

    #[test]
    fn late_video_makes_audio_wait_in_steps_and_gets_it_back() {
        let t0 = Instant::now();
        let mut sync = synced(t0);
        let mut audio_extra = Duration::ZERO;
        // The audio path takes 40 ms plus whatever extra delay lip sync asks for; video takes 110 ms.
        for step in 0..400 {
            let at = step as f64 * 0.02;
            let now = t0 + Duration::from_secs_f64(at);
            sync.audio_heard(audio_rtp(at), now + 40 * MS + audio_extra);
            sync.video_due(video_rtp(at), now + 110 * MS);
            audio_extra = sync.audio_minimum_delay(now);
        }
        let extra = audio_extra.as_millis();
        assert!((55..=85).contains(&extra), "audio delayed by {extra} ms, video is 70 ms slower");
        // Video becomes fast: the extra audio delay is given back.
        for step in 400..800 {
            let at = step as f64 * 0.02;
            let now = t0 + Duration::from_secs_f64(at);
            sync.audio_heard(audio_rtp(at), now + 40 * MS + audio_extra);
            sync.video_due(video_rtp(at), now + 5 * MS);
            audio_extra = sync.audio_minimum_delay(now);
        }
        assert_eq!(audio_extra, Duration::ZERO);
    }

    #[test]
    fn jitter_in_the_audio_path_is_smoothed_but_a_jump_is_taken_at_once() {
        let t0 = Instant::now();
        let mut sync = synced(t0);
        for i in 0..100 {
            let at = i as f64 * 0.02;
            let jitter = if i % 2 == 0 { 10 } else { 0 };
            sync.audio_heard(audio_rtp(at), t0 + Duration::from_secs_f64(at) + (100 + jitter) * MS);
        }
        let ready = t0 + Duration::from_secs_f64(2.0);
        let hold = sync.video_due(video_rtp(2.0), ready).duration_since(ready).as_millis();
        assert!((100..=110).contains(&hold), "held {hold} ms");
        sync.audio_heard(audio_rtp(2.0), ready + 600 * MS); // a new speaker with a long latency
        let hold = sync.video_due(video_rtp(2.0), ready).duration_since(ready);
        assert_eq!(hold, MAX_HOLD);
    }
}
