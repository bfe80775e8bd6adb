//! What `tincan-cli` received, for its closing `summary`: per participant (their decoded video and a copy of
//! their audio) and for the call as a whole (the first participant's video, everyone's audio mixed).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tincan_engine::{Participant, ParticipantSinks};
use tincan_media::analysis::dominant_frequency;
use tincan_media::source::{AudioSink, VideoSink};
use tincan_media::synthetic::{read_stamp, wall_clock_us};
use tincan_media::{AudioFrame, VideoFrame};

use crate::snapshot;

/// Stamp ages above this are not a live sender's (a browser replaying a recorded pattern).
const PLAUSIBLE_AGE: Duration = Duration::from_secs(10);

/// What one stream of video and audio brought.
#[derive(Default)]
pub struct Received {
    pub frames: u64,
    unreadable: u64,
    gaps: u64,
    out_of_order: u64,
    last_counter: Option<u32>,
    latencies_us: Vec<u32>,
    /// The last second of audio, for its frequency.
    audio: Vec<i16>,
    audio_frames: u64,
    first_frame_at: Option<Instant>,
    last_frame_at: Option<Instant>,
    longest_gap: Duration,
    /// The last decoded picture (for `--snapshot`).
    last: Option<VideoFrame>,
}

impl Received {
    pub fn on_video(&mut self, frame: &VideoFrame) {
        let now = wall_clock_us();
        self.frames += 1;
        let at = Instant::now();
        self.first_frame_at.get_or_insert(at);
        self.last = Some(frame.clone());
        if let Some(last) = self.last_frame_at.replace(at) {
            self.longest_gap = self.longest_gap.max(at - last);
        }
        match read_stamp(frame) {
            Some(stamp) => {
                if let Some(last) = self.last_counter {
                    if stamp.counter <= last {
                        self.out_of_order += 1;
                    } else if stamp.counter != last + 1 {
                        self.gaps += 1;
                    }
                }
                self.last_counter = Some(stamp.counter);
                self.latencies_us.push(stamp.age_us(now));
            }
            None => self.unreadable += 1,
        }
    }

    /// The video track's figures for the summary's `tracks` list.
    /// Stamp figures as in [`Received::figures`], without the audio.
    fn track(&mut self, kind: &str) -> Value {
        let span = self.first_frame_at.zip(self.last_frame_at).map(|(a, b)| (b - a).as_secs_f64()).unwrap_or(0.0);
        let fps = if span > 0.0 { (self.frames - 1) as f64 / span } else { 0.0 };
        let mut v = self.figures();
        if let Some(o) = v.as_object_mut() {
            o.remove("audio_frames");
            o.remove("audio_hz");
        }
        v["kind"] = json!(kind);
        v["width"] = json!(self.last.as_ref().map(|f| f.width));
        v["height"] = json!(self.last.as_ref().map(|f| f.height));
        v["fps"] = json!((fps * 10.0).round() / 10.0);
        v
    }

    pub fn on_audio(&mut self, frame: &AudioFrame) {
        self.audio_frames += 1;
        self.audio.extend_from_slice(&frame.samples);
        let excess = self.audio.len().saturating_sub(48_000);
        self.audio.drain(..excess);
    }

    /// The figures. Stamp figures (unreadable frames, gaps, order, latency) only for a sender whose frames
    /// carry Tincan's stamp (most of them readable), and latency only if the stamps are live.
    pub fn figures(&mut self) -> Value {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| {
            let v = &self.latencies_us;
            v.get(((v.len() as f64 - 1.0) * p).round() as usize).map(|v| *v as f64 / 1000.0)
        };
        let stamped = self.frames > 0 && (self.frames - self.unreadable) * 2 >= self.frames;
        let live = stamped && pct(0.5).is_some_and(|ms| ms < PLAUSIBLE_AGE.as_secs_f64() * 1000.0);
        json!({
            "frames_decoded": self.frames,
            "stamped": stamped,
            "frames_unreadable": stamped.then_some(self.unreadable),
            "last_counter": self.last_counter.filter(|_| stamped),
            "gaps": stamped.then_some(self.gaps),
            "out_of_order": stamped.then_some(self.out_of_order),
            "longest_gap_ms": self.longest_gap.as_secs_f64() * 1000.0,
            "latency_ms_p50": if live { pct(0.5) } else { None },
            "latency_ms_p95": if live { pct(0.95) } else { None },
            "audio_frames": self.audio_frames,
            "audio_hz": dominant_frequency(&self.audio, 48_000),
        })
    }
}

/// One participant's figures, as the summary lists them.
struct Person {
    name: Option<String>,
    received: Received,
    /// Their screen share, if they shared (the last share: a new one starts afresh).
    screen: Option<Received>,
}

/// Everyone's figures, in the order they arrived, by the peer id they had when their media arrived (a person
/// who leaves and comes back is a new participant, listed again).
#[derive(Clone, Default)]
pub struct People {
    by_peer: Arc<Mutex<BTreeMap<String, (usize, Person)>>>,
}

impl People {
    fn person<T>(&self, p: &Participant, f: impl FnOnce(&mut Person) -> T) -> T {
        let mut people = self.by_peer.lock().unwrap_or_else(|e| e.into_inner());
        let next = people.len();
        let (_, person) = people
            .entry(p.peer.clone())
            .or_insert_with(|| (next, Person { name: p.name.clone(), received: Received::default(), screen: None }));
        f(person)
    }

    fn with(&self, p: &Participant, f: impl FnOnce(&mut Received)) {
        self.person(p, |person| f(&mut person.received));
    }

    /// Write the last picture of every received video track as `NAME-camera.png` / `NAME-screen.png` (NAME:
    /// the participant's name, else its peer id); the paths written.
    pub fn snapshots(&self, dir: &Path) -> Vec<Value> {
        let people = self.by_peer.lock().unwrap_or_else(|e| e.into_inner());
        let mut written = Vec::new();
        for (peer, (_, person)) in people.iter() {
            let who: String = person
                .name
                .as_deref()
                .unwrap_or(peer)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .collect();
            let tracks = [("camera", Some(&person.received)), ("screen", person.screen.as_ref())];
            for (kind, received) in tracks {
                let Some(frame) = received.and_then(|r| r.last.as_ref()) else { continue };
                let path = dir.join(format!("{who}-{kind}.png"));
                match snapshot::write_png(frame, &path) {
                    Ok(()) => written.push(json!({"peer": peer, "kind": kind, "path": path})),
                    Err(e) => written.push(json!({"peer": peer, "kind": kind, "error": e.to_string()})),
                }
            }
        }
        written
    }

    /// The `participants` list of the summary.
    pub fn figures(&self) -> Vec<Value> {
        let mut people = self.by_peer.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<(usize, Value)> = people
            .iter_mut()
            .map(|(peer, (order, person))| {
                let mut v = person.received.figures();
                v["peer"] = json!(peer);
                v["name"] = json!(person.name);
                let mut tracks = Vec::new();
                if person.received.frames > 0 {
                    tracks.push(person.received.track("camera"));
                }
                if let Some(screen) = &mut person.screen {
                    tracks.push(screen.track("screen"));
                }
                v["tracks"] = json!(tracks);
                (*order, v)
            })
            .collect();
        list.sort_by_key(|(order, _)| *order);
        list.into_iter().map(|(_, v)| v).collect()
    }

    /// Video frames decoded from the first participant (the call-wide figures are theirs).
    pub fn first(&self) -> Option<Value> {
        self.figures().into_iter().next()
    }
}

/// What to do with each participant's first frame.
pub type OnFirstFrame = Arc<dyn Fn(&Participant, &VideoFrame) + Send + Sync>;

/// The sinks the engine asks for each participant's media.
pub struct PeopleSinks {
    pub people: People,
    /// Called with each participant's first frame (a `first_frame` line).
    pub on_first_frame: OnFirstFrame,
}

impl ParticipantSinks for PeopleSinks {
    fn video(&mut self, participant: &Participant) -> Option<Box<dyn VideoSink>> {
        let (people, participant, first) = (self.people.clone(), participant.clone(), self.on_first_frame.clone());
        let mut seen = false;
        Some(Box::new(move |frame: VideoFrame| {
            if !std::mem::replace(&mut seen, true) {
                first(&participant, &frame);
            }
            people.with(&participant, |r| r.on_video(&frame));
        }))
    }

    fn screen(&mut self, participant: &Participant) -> Option<Box<dyn VideoSink>> {
        let (people, participant) = (self.people.clone(), participant.clone());
        people.person(&participant, |p| p.screen = Some(Received::default()));
        Some(Box::new(move |frame: VideoFrame| {
            people.person(&participant, |p| p.screen.get_or_insert_with(Received::default).on_video(&frame))
        }))
    }

    fn audio(&mut self, participant: &Participant) -> Option<Box<dyn AudioSink>> {
        let (people, participant) = (self.people.clone(), participant.clone());
        Some(Box::new(move |frame: AudioFrame| people.with(&participant, |r| r.on_audio(&frame))))
    }
}
