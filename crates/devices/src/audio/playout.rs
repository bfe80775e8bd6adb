//! The playout buffer between the network and the speaker. Decoded audio arrives in bursts (network jitter,
//! and lost packets come back as concealment frames when the next packet arrives); the speaker takes 10 ms at
//! a time at its own clock. The buffer holds just enough to ride out the jitter it has seen:
//!
//! * it measures each frame's relative delay (arrival time minus media time, against the smallest over the
//!   last two seconds) and keeps its target at the largest recent one plus a margin (20–400 ms), coming
//!   down by at most 1 ms per frame;
//! * before playing (and after running dry) it waits until it holds the target;
//! * running dry is an underrun, and the target grows; what is missing is concealed at once (not only when
//!   the next packet comes): the last pitch period played is repeated, fading out over 60 ms, and when audio
//!   comes back it is cross-faded in (WebRTC NetEq's "expand" and "merge", in their simplest form). Only
//!   after 60 ms of concealment does the buffer go silent and wait to hold its target again;
//! * holding more than the target plus 30 ms (a burst, or the far end's clock running faster than the
//!   speaker's), it drops 10 ms with a short cross-fade, so latency comes back down;
//! * lip sync may ask for a minimum delay (video arrives later than audio): the target does not go below
//!   it, and a raised minimum is reached at once by playing the difference as silence (faded; lip sync
//!   moves it 20 ms at a time, and only while video is late).
//!
//! Pure state, no I/O: the speaker calls it under a lock; tests call it with their own clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const RATE: usize = 48;
/// Samples per 10 ms.
const TEN_MS: usize = 480;
const MIN_TARGET: usize = 20 * RATE;
const MAX_TARGET: usize = 400 * RATE;
const MARGIN: usize = 10 * RATE;
const EXCESS: usize = 30 * RATE;
/// Never hold more than this (a stalled speaker must not make memory grow).
const CAPACITY: usize = 1000 * RATE;
const WINDOW: Duration = Duration::from_secs(2);
const FADE: usize = 2 * RATE;
/// The longest stretch concealed before going silent.
const CONCEAL_MAX: usize = 60 * RATE;
/// Pitch periods searched for: 2.5–20 ms (50–400 Hz voices, and their harmonics).
const PERIOD_MIN: usize = RATE * 5 / 2;
const PERIOD_MAX: usize = 20 * RATE;
/// Running dry for longer than this is a pause of the stream, not starvation.
const STARVED_MAX: usize = 250 * RATE;
/// What was played last, for concealment: two of the longest periods.
const HISTORY: usize = 2 * PERIOD_MAX;

#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct PlayoutStats {
    /// What the buffer holds now (ms).
    pub level_ms: f64,
    /// What it aims to hold (ms).
    pub target_ms: f64,
    pub underruns: u64,
    /// Underruns after the first second of playing that audio came back from within 250 ms: starvation
    /// while the stream flowed, not its start, its end or a pause (a muted sender sends nothing).
    pub underruns_in_flow: u64,
    /// Audio dropped to bring latency down (ms).
    pub dropped_ms: f64,
    /// Audio made up while the buffer was dry (ms).
    pub concealed_ms: f64,
}

/// Concealment under way: one pitch period of what was played last, repeated.
struct Concealment {
    cycle: Vec<f32>,
    /// Samples made up so far.
    done: usize,
}

impl Concealment {
    /// Start from what was played last: the period that repeats best.
    fn start(history: &VecDeque<f32>) -> Concealment {
        let n = history.len();
        let period = if n < 2 * PERIOD_MIN { TEN_MS.min(n.max(1)) } else { best_period(history) };
        let cycle = if n >= period { history.range(n - period..).copied().collect() } else { vec![0.0; period] };
        Concealment { cycle, done: 0 }
    }

    /// The next made-up sample, fading out over [`CONCEAL_MAX`].
    fn next(&mut self) -> f32 {
        let gain = 1.0 - self.done as f32 / CONCEAL_MAX as f32;
        let v = self.cycle[self.done % self.cycle.len()] * gain.max(0.0);
        self.done += 1;
        v
    }
}

/// The lag (2.5–20 ms) at which the last 10 ms played is most like what came before it.
fn best_period(history: &VecDeque<f32>) -> usize {
    let n = history.len();
    // A short history (just after playing started) shrinks the window, not the periods searched.
    let window = TEN_MS.min(n / 2);
    let (mut best, mut best_score) = (TEN_MS, f32::MIN);
    for lag in (PERIOD_MIN..=PERIOD_MAX.min(n - window)).step_by(2) {
        let (mut dot, mut energy) = (0f32, 1e-9f32);
        for i in n - window..n {
            let (a, b) = (history[i], history[i - lag]);
            dot += a * b;
            energy += b * b;
        }
        let score = dot / energy.sqrt();
        if score > best_score {
            (best, best_score) = (lag, score);
        }
    }
    best
}

pub struct PlayoutBuffer {
    samples: VecDeque<f32>,
    /// (arrival, relative delay in samples) of recent frames.
    delays: VecDeque<(Instant, i64)>,
    /// Arrival time minus media time of the first frame, the reference for relative delays.
    origin: Option<(Instant, Duration)>,
    target: usize,
    /// Lip sync's minimum delay (samples).
    minimum: usize,
    /// Silence still to play to reach a raised minimum (samples).
    stretch: usize,
    playing: bool,
    last_sample: f32,
    history: VecDeque<f32>,
    concealing: Option<Concealment>,
    /// Samples played (real or made up) since playing first started.
    played: usize,
    /// Ran dry after the first second: samples given out since (made up or silent); counted in
    /// `underruns_in_flow` if audio comes back within [`STARVED_MAX`].
    dry_in_flow: Option<usize>,
    stats: PlayoutStats,
}

impl Default for PlayoutBuffer {
    fn default() -> Self {
        PlayoutBuffer {
            samples: VecDeque::with_capacity(CAPACITY),
            delays: VecDeque::new(),
            origin: None,
            target: MIN_TARGET,
            minimum: 0,
            stretch: 0,
            playing: false,
            last_sample: 0.0,
            history: VecDeque::with_capacity(HISTORY + TEN_MS),
            concealing: None,
            played: 0,
            dry_in_flow: None,
            stats: PlayoutStats::default(),
        }
    }
}

impl PlayoutBuffer {
    /// A decoded frame (48 kHz mono) that arrived at `now`; `media_time` is its place in the stream.
    pub fn push(&mut self, samples: &[i16], media_time: Duration, now: Instant) {
        let (t0, m0) = *self.origin.get_or_insert((now, media_time));
        let arrival = now.saturating_duration_since(t0).as_micros() as i64;
        let media = media_time.saturating_sub(m0).as_micros() as i64;
        // A new stream (media time jumped back) starts the measurement over.
        if media_time < m0 {
            self.origin = Some((now, media_time));
            self.delays.clear();
        }
        self.delays.push_back((now, (arrival - media) * RATE as i64 / 1000));
        while self.delays.front().is_some_and(|(t, _)| now.duration_since(*t) > WINDOW) {
            self.delays.pop_front();
        }
        let lowest = self.delays.iter().map(|d| d.1).min().unwrap_or(0);
        let highest = self.delays.iter().map(|d| d.1).max().unwrap_or(0);
        let jitter = (highest - lowest).max(0) as usize;
        self.target =
            (jitter + MARGIN).clamp(MIN_TARGET, MAX_TARGET).max(self.target.saturating_sub(RATE)).max(self.minimum);
        let room = CAPACITY.saturating_sub(self.samples.len());
        self.samples.extend(samples.iter().take(room).map(|s| *s as f32 / 32768.0));
        self.update_level();
    }

    /// Hold at least `delay` (lip sync); at most the largest target.
    pub fn set_minimum(&mut self, delay: Duration) {
        let minimum = ((delay.as_micros() as usize * RATE) / 1000).min(MAX_TARGET);
        if minimum > self.target && self.playing {
            self.stretch += minimum - self.target.max(self.samples.len());
        }
        self.minimum = minimum;
        self.target = self.target.max(minimum);
        self.update_level();
    }

    /// How long until the last sample pushed is played: what it holds, at the speaker's pace, except that
    /// above the target plus the excess every 10 ms pulled also drops 10 ms (so that part goes at twice the
    /// pace); plus silence still to stretch, or to wait for before playing starts.
    pub fn delay(&self) -> Duration {
        let held = self.samples.len();
        let kept = self.target + EXCESS;
        let played = if held > kept { kept + (held - kept) / 2 } else { held };
        let waiting = if self.playing { 0 } else { self.target.saturating_sub(held) };
        Duration::from_micros(((played + self.stretch + waiting) * 1000 / RATE) as u64)
    }

    /// Fill `out` (48 kHz mono) for the speaker.
    pub fn pull(&mut self, out: &mut [f32]) {
        if let Some(dry) = &mut self.dry_in_flow {
            *dry += out.len();
        }
        if self.playing && self.stretch > 0 {
            self.stretch = self.stretch.saturating_sub(out.len());
            if let Some(mut c) = self.concealing.take() {
                // Fade from the made-up sound, not from a sample played before it.
                self.last_sample = c.next();
            }
            self.fade_out(out);
            return;
        }
        if !self.playing {
            if self.samples.len() >= self.target {
                self.playing = true;
            } else {
                self.fade_out(out);
                return;
            }
        }
        if self.samples.len() > self.target + EXCESS && self.samples.len() >= out.len() + TEN_MS + FADE {
            self.drop_ten_ms();
        }
        let have = self.samples.len().min(out.len());
        for (o, s) in out.iter_mut().zip(self.samples.drain(..have)) {
            *o = s;
        }
        if let Some(c) = &mut self.concealing
            && have > 0
        {
            // Audio is back: cross-fade from the made-up sound into it.
            for (i, o) in out[..have.min(FADE)].iter_mut().enumerate() {
                let w = i as f32 / FADE as f32;
                *o = c.next() * (1.0 - w) + *o * w;
            }
            self.concealing = None;
        }
        if have > 0 {
            self.came_back(have);
        }
        self.played += out.len();
        if have < out.len() {
            if self.concealing.is_none() {
                // Running dry: an underrun, and the target grows.
                self.stats.underruns += 1;
                self.dry_in_flow = (self.played > 1000 * RATE).then_some(0);
                tracing::debug!(played_ms = self.played / RATE, target_ms = self.target / RATE, "playout ran dry");
                self.target = (self.target + TEN_MS).min(MAX_TARGET);
                self.remember(&out[..have]);
                self.concealing = Some(Concealment::start(&self.history));
            }
            let c = self.concealing.as_mut().expect("just set");
            let left = CONCEAL_MAX.saturating_sub(c.done).min(out.len() - have);
            for o in &mut out[have..have + left] {
                *o = c.next();
            }
            self.stats.concealed_ms += left as f64 / RATE as f64;
            if have + left < out.len() {
                // Concealed long enough: silence, and wait for the target again.
                self.last_sample = 0.0;
                out[have + left..].fill(0.0);
                self.concealing = None;
                self.playing = false;
                self.history.clear();
            }
        } else {
            self.last_sample = *out.last().unwrap_or(&0.0);
            self.remember(out);
        }
        self.update_level();
    }

    /// Real audio flows again (`have` samples of this pull), after running dry or not.
    fn came_back(&mut self, have: usize) {
        // What this pull gave out of the real audio is not part of the dry spell.
        if let Some(dry) = self.dry_in_flow.take()
            && dry.saturating_sub(have) <= STARVED_MAX
        {
            self.stats.underruns_in_flow += 1;
        }
    }

    /// Keep the last [`HISTORY`] samples played (real audio only: concealment starts from what was heard).
    fn remember(&mut self, played: &[f32]) {
        self.history.extend(played.iter().copied());
        let excess = self.history.len().saturating_sub(HISTORY);
        self.history.drain(..excess);
    }

    pub fn stats(&self) -> PlayoutStats {
        self.stats
    }

    /// Silence that starts from the last sample played, so a gap does not click.
    fn fade_out(&mut self, out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = if i < FADE { self.last_sample * (1.0 - i as f32 / FADE as f32) } else { 0.0 };
        }
        self.last_sample = 0.0;
    }

    /// Remove 10 ms: the samples after the cut fade in over the ones before it.
    fn drop_ten_ms(&mut self) {
        for i in 0..FADE {
            let w = i as f32 / FADE as f32;
            let (before, after) = (self.samples[i], self.samples[i + TEN_MS]);
            self.samples[i + TEN_MS] = before * (1.0 - w) + after * w;
        }
        self.samples.drain(..TEN_MS);
        self.stats.dropped_ms += 10.0;
    }

    fn update_level(&mut self) {
        self.stats.level_ms = self.samples.len() as f64 / RATE as f64;
        self.stats.target_ms = self.target as f64 / RATE as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: usize = 960;

    fn frame(value: i16) -> Vec<i16> {
        vec![value; FRAME]
    }

    /// Feed 20 ms frames with the given arrival offsets (ms, relative to their due time) and play 10 ms
    /// chunks in real time; returns the buffer.
    fn run(offsets_ms: impl Fn(usize) -> u64, frames: usize) -> (PlayoutBuffer, Vec<f32>) {
        let start = Instant::now();
        let mut b = PlayoutBuffer::default();
        let mut arrivals: Vec<(u64, usize)> = (0..frames).map(|i| (i as u64 * 20 + offsets_ms(i), i)).collect();
        arrivals.sort();
        let mut played = Vec::new();
        let mut next = 0;
        for ms in (0..frames as u64 * 20 + 500).step_by(10) {
            while next < arrivals.len() && arrivals[next].0 <= ms {
                let i = arrivals[next].1;
                b.push(
                    &frame(1000 + i as i16),
                    Duration::from_millis(i as u64 * 20),
                    start + Duration::from_millis(ms),
                );
                next += 1;
            }
            let mut out = [0f32; TEN_MS];
            b.pull(&mut out);
            played.extend_from_slice(&out);
        }
        (b, played)
    }

    #[test]
    fn a_steady_stream_plays_at_the_minimum_delay_without_gaps() {
        let (b, played) = run(|_| 5, 300);
        assert_eq!(b.stats().underruns, 1, "only the end of the stream runs dry"); // after the last frame
        assert_eq!(b.stats().underruns_in_flow, 0, "the end of a stream is not starvation");
        assert!(b.stats().target_ms <= 30.0, "20 ms, and 10 more after the end's underrun: {:?}", b.stats());
        // Every frame was played, in order.
        let values: Vec<i16> = played.iter().map(|s| (s * 32768.0).round() as i16).filter(|v| *v >= 1000).collect();
        // (The concealment after the last frame, fading out, adds samples above 1000 for its first ~14 ms.)
        assert!((300 * FRAME..300 * FRAME + 15 * RATE).contains(&values.len()), "{}", values.len());
        assert!(values[..300 * FRAME].windows(2).all(|w| w[1] >= w[0]));
    }

    #[test]
    fn jitter_raises_the_target_and_stops_underruns() {
        // Every fifth frame comes 60 ms late (and the next ones bunch up behind it).
        let (b, _) = run(|i| if i % 5 == 0 { 60 } else { 0 }, 500);
        let s = b.stats();
        assert!(s.target_ms >= 60.0 && s.target_ms <= 90.0, "{s:?}");
        assert!(s.underruns <= 4, "it learns after a few: {s:?}");
    }

    #[test]
    fn a_burst_is_played_down_to_the_target() {
        // 25 frames (500 ms) arrive at once after a stall, then the stream is steady again.
        let (b, _) = run(|i| if i < 25 { 500 - i as u64 * 20 } else { 0 }, 600);
        let s = b.stats();
        assert!(s.dropped_ms >= 200.0, "{s:?}");
        // Once the burst has left the two-second window, the target is back near the floor.
        assert!(s.target_ms <= 40.0, "{s:?}");
    }

    #[test]
    fn a_minimum_delay_from_lip_sync_is_reached_at_once_and_given_back() {
        let start = Instant::now();
        let mut b = PlayoutBuffer::default();
        let mut out = [0f32; TEN_MS];
        let mut silent_chunks = 0;
        for i in 0..300u64 {
            let now = start + Duration::from_millis(i * 20);
            b.push(&frame(1000), Duration::from_millis(i * 20), now);
            if i == 100 {
                assert!(b.delay() <= Duration::from_millis(40), "{:?}", b.delay());
                b.set_minimum(Duration::from_millis(100));
                assert!(b.delay() >= Duration::from_millis(100), "{:?}", b.delay());
            }
            if i == 200 {
                b.set_minimum(Duration::ZERO);
            }
            for _ in 0..2 {
                b.pull(&mut out);
                if i > 5 && out[TEN_MS - 1] == 0.0 {
                    silent_chunks += 1;
                }
            }
            if i == 199 {
                assert!(b.stats().level_ms >= 70.0, "held for lip sync: {:?}", b.stats());
                assert_eq!(b.stats().underruns, 0);
            }
        }
        // 100 ms - the 20 ms already held: 8 chunks of silence, no more.
        assert_eq!(silent_chunks, 8);
        assert!(b.stats().level_ms <= 50.0, "given back: {:?}", b.stats());
    }

    #[test]
    fn a_stalled_speaker_does_not_grow_memory() {
        let mut b = PlayoutBuffer::default();
        let now = Instant::now();
        for i in 0..1000 {
            b.push(&frame(1), Duration::from_millis(i * 20), now);
        }
        assert!(b.samples.len() <= CAPACITY);
    }

    /// A 180 Hz tone (its period, 266.7 samples, divides neither a frame nor a pull), 20 ms frames; frames
    /// 100 and 101 come 50 and 30 ms late. The speaker pulls 10 ms in real time.
    #[test]
    fn a_late_packet_is_concealed_at_playout_time_not_played_as_silence() {
        let tone = |i: usize| -> Vec<i16> {
            (0..FRAME)
                .map(|t| {
                    let n = (i * FRAME + t) as f32;
                    (8000.0 * (2.0 * std::f32::consts::PI * 180.0 * n / 48_000.0).sin()) as i16
                })
                .collect()
        };
        let start = Instant::now();
        let mut b = PlayoutBuffer::default();
        let mut arrivals: Vec<(u64, usize)> =
            // (The one after them comes with them: decoding keeps packets in order.)
            (0..200).map(|i| (if (100..=102).contains(&i) { 2050 } else { i as u64 * 20 }, i)).collect();
        arrivals.sort();
        let mut played = Vec::new();
        let mut next = 0;
        for ms in (0..200 * 20).step_by(10) {
            while next < arrivals.len() && arrivals[next].0 <= ms as u64 {
                let i = arrivals[next].1;
                b.push(&tone(i), Duration::from_millis(i as u64 * 20), start + Duration::from_millis(ms as u64));
                next += 1;
            }
            let mut out = [0f32; TEN_MS];
            b.pull(&mut out);
            played.extend_from_slice(&out);
        }
        let s = b.stats();
        assert_eq!(s.underruns, 1, "{s:?}");
        assert_eq!(s.underruns_in_flow, 1, "two seconds in, and the stream came back: {s:?}");
        assert!(s.concealed_ms >= 10.0 && s.concealed_ms <= 60.0, "{s:?}");
        // Where the buffer ran dry (around 2 s in), no stretch of 5 ms is silent: the tone goes on.
        let from = 100 * 20 * RATE - 40 * RATE;
        let around = &played[from..from + 150 * RATE];
        let silent = around.windows(5 * RATE).any(|w| w.iter().all(|v| v.abs() < 1e-3));
        assert!(!silent, "a silent gap where the late packets were");
        let quiet_start = around.windows(3 * RATE).position(|w| w.iter().map(|v| v.abs()).fold(0.0, f32::max) < 0.03);
        assert!(quiet_start.is_none(), "the tone dropped away at {quiet_start:?}");
        // The made-up part repeats the last period played, fading: the tone's period is 266.7 samples, so
        // the repeated cycle is 266 or 268 samples long (even lags are searched). Playing started after the
        // buffer's first silent pulls: find where the tone begins (its first sample is 0).
        let offset = played.iter().position(|v| v.abs() > 0.0).unwrap() - 1;
        let dry = offset + 100 * FRAME;
        let fit = |cycle: usize| {
            let (mut err, mut energy) = (0f32, 0f32);
            for t in 0..TEN_MS {
                let gain = 1.0 - t as f32 / CONCEAL_MAX as f32;
                let expected = gain * played[dry - cycle + t % cycle];
                err += (played[dry + t] - expected).powi(2);
                energy += expected * expected;
            }
            err / energy.max(1e-9)
        };
        let best = fit(266).min(fit(268));
        assert!(best < 0.01, "the concealment does not repeat the tone's last period: {best:.4}");
        // A wrong period (half of it, say) does not fit.
        assert!(fit(134) > 0.1, "{}", fit(134));
    }

    /// A sender that pauses (muted, it sends nothing) for a second makes the buffer run dry, but that is
    /// not starvation; audio comes back after it.
    #[test]
    fn a_pause_of_the_stream_is_not_starvation() {
        let start = Instant::now();
        let mut b = PlayoutBuffer::default();
        let mut out = [0f32; TEN_MS];
        let (mut media, mut heard_after) = (0u64, false);
        for ms in (0..7000u64).step_by(10) {
            if ms % 20 == 0 && !(2000..3000).contains(&ms) {
                b.push(&frame(1000), Duration::from_millis(media * 20), start + Duration::from_millis(ms));
                media += 1;
            }
            b.pull(&mut out);
            heard_after |= ms > 3000 && out[0] != 0.0;
        }
        let s = b.stats();
        assert!(heard_after, "audio came back: {s:?}");
        assert!(s.underruns >= 1, "{s:?}");
        assert_eq!(s.underruns_in_flow, 0, "{s:?}");
    }
}
