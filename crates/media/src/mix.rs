//! Mixing several people's audio into one sink (the speaker, whose echo canceller then takes the mix as its
//! far-end reference). Each participant's decoded audio goes to a [`MixerInput`]; a mixed 20 ms frame goes out
//! as soon as every input that is talking has one ready, or when one input is a frame ahead of a silent one
//! (a muted sender sends nothing, and must not hold the others up). With one input it passes frames straight
//! through.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::frame::AudioFrame;
use crate::source::AudioSink;

/// Frames an input may hold before the oldest is dropped. Mixing starts once an input is a frame ahead, so
/// this is a bound that should never be reached, not a buffer.
const MAX_QUEUED: usize = 5;
/// An input that delivered nothing for this long is not waited for.
const IDLE_AFTER: Duration = Duration::from_millis(100);

struct Input {
    queue: VecDeque<AudioFrame>,
    /// The playout delay this input's lip sync asks for.
    delay: Duration,
    /// When it last delivered (never: not talking).
    last: Option<Instant>,
    open: bool,
}

struct State {
    out: Box<dyn AudioSink>,
    inputs: Vec<Input>,
}

/// The mixer: hands out inputs, writes mixed frames to its sink.
#[derive(Clone)]
pub struct Mixer {
    state: Arc<Mutex<State>>,
}

/// One participant's way into the mix. Dropping it removes that participant.
pub struct MixerInput {
    state: Arc<Mutex<State>>,
    index: usize,
}

impl Mixer {
    pub fn new(out: Box<dyn AudioSink>) -> Mixer {
        Mixer { state: Arc::new(Mutex::new(State { out, inputs: Vec::new() })) }
    }

    /// A new input (a participant's audio).
    pub fn input(&self) -> MixerInput {
        let mut s = lock(&self.state);
        let input = Input { queue: VecDeque::new(), delay: Duration::ZERO, last: None, open: true };
        // Reuse a closed slot: participants who come and go do not grow the list.
        let index = match s.inputs.iter().position(|i| !i.open) {
            Some(i) => {
                s.inputs[i] = input;
                i
            }
            None => {
                s.inputs.push(input);
                s.inputs.len() - 1
            }
        };
        MixerInput { state: self.state.clone(), index }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    /// Mix and send while the inputs allow.
    fn drain(&mut self, now: Instant) {
        loop {
            let talking =
                self.inputs.iter().filter(|i| i.open && i.last.is_some_and(|t| now.duration_since(t) < IDLE_AFTER));
            let (mut waiting, mut ahead) = (0, false);
            for i in talking {
                if i.queue.is_empty() {
                    waiting += 1;
                } else {
                    ahead |= i.queue.len() >= 2;
                }
            }
            let any_queued = self.inputs.iter().any(|i| !i.queue.is_empty());
            if !any_queued || (waiting > 0 && !ahead) {
                return;
            }
            let mut mixed: Option<AudioFrame> = None;
            for input in &mut self.inputs {
                let Some(frame) = input.queue.pop_front() else { continue };
                match &mut mixed {
                    None => mixed = Some(frame),
                    Some(m) => {
                        if m.samples.len() < frame.samples.len() {
                            m.samples.resize(frame.samples.len(), 0);
                        }
                        for (a, b) in m.samples.iter_mut().zip(&frame.samples) {
                            *a = a.saturating_add(*b);
                        }
                    }
                }
            }
            match mixed {
                Some(frame) => self.out.on_frame(frame),
                None => return,
            }
        }
    }
}

impl AudioSink for MixerInput {
    fn on_frame(&mut self, frame: AudioFrame) {
        let now = Instant::now();
        let mut s = lock(&self.state);
        let input = &mut s.inputs[self.index];
        input.last = Some(now);
        if input.queue.len() == MAX_QUEUED {
            input.queue.pop_front();
        }
        input.queue.push_back(frame);
        s.drain(now);
    }

    fn latency(&self) -> Option<Duration> {
        lock(&self.state).out.latency()
    }

    /// Everyone plays through one buffer: it holds what the participant who needs most asks for.
    fn set_minimum_delay(&mut self, delay: Duration) {
        let mut s = lock(&self.state);
        s.inputs[self.index].delay = delay;
        let most = s.inputs.iter().filter(|i| i.open).map(|i| i.delay).max().unwrap_or_default();
        s.out.set_minimum_delay(most);
    }
}

impl Drop for MixerInput {
    fn drop(&mut self) {
        let mut s = lock(&self.state);
        let input = &mut s.inputs[self.index];
        input.open = false;
        input.queue.clear();
        s.drain(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn frame(value: i16) -> AudioFrame {
        AudioFrame { timestamp: Duration::ZERO, samples: vec![value; 960] }
    }

    fn mixer() -> (Mixer, mpsc::Receiver<Vec<i16>>) {
        let (tx, rx) = mpsc::channel();
        (Mixer::new(Box::new(move |f: AudioFrame| tx.send(f.samples).unwrap())), rx)
    }

    #[test]
    fn one_input_passes_through_and_two_are_summed_frame_by_frame() {
        let (m, out) = mixer();
        let mut a = m.input();
        a.on_frame(frame(100));
        assert_eq!(out.try_recv().unwrap()[0], 100, "alone: at once");
        let mut b = m.input();
        b.on_frame(frame(10));
        assert!(out.try_recv().is_err(), "A is talking and has nothing yet: wait for it");
        a.on_frame(frame(100));
        assert_eq!(out.try_recv().unwrap()[0], 110);
        a.on_frame(frame(i16::MAX));
        b.on_frame(frame(i16::MAX));
        assert_eq!(out.try_recv().unwrap()[0], i16::MAX, "clipped, not wrapped");
        assert!(out.try_recv().is_err());
    }

    #[test]
    fn a_silent_input_holds_nobody_up_and_a_closed_one_leaves() {
        let (m, out) = mixer();
        let mut a = m.input();
        let mut b = m.input();
        b.on_frame(frame(1));
        assert_eq!(out.try_recv().unwrap()[0], 1, "A never talked: not waited for");
        // B stops talking (muted): A's frame waits for B until A is a frame ahead...
        a.on_frame(frame(5));
        assert!(out.try_recv().is_err());
        a.on_frame(frame(5));
        assert_eq!(out.try_iter().count(), 1);
        // ...and once B has been quiet a while, A is not held at all.
        std::thread::sleep(IDLE_AFTER);
        a.on_frame(frame(5));
        assert_eq!(out.try_iter().count(), 2);
        drop(b);
        let c = m.input();
        assert_eq!(c.index, 1, "the closed slot is reused");
        for _ in 0..10 {
            a.on_frame(frame(5));
        }
        assert_eq!(out.try_iter().count(), 10);
    }

    #[test]
    fn the_speaker_holds_the_largest_delay_anyone_asks_for() {
        struct Delay(Arc<Mutex<Duration>>);
        impl AudioSink for Delay {
            fn on_frame(&mut self, _: AudioFrame) {}
            fn set_minimum_delay(&mut self, delay: Duration) {
                *self.0.lock().unwrap() = delay;
            }
        }
        let asked = Arc::new(Mutex::new(Duration::ZERO));
        let m = Mixer::new(Box::new(Delay(asked.clone())));
        let (mut a, mut b) = (m.input(), m.input());
        a.set_minimum_delay(Duration::from_millis(80));
        b.set_minimum_delay(Duration::from_millis(20));
        assert_eq!(*asked.lock().unwrap(), Duration::from_millis(80), "B's smaller wish does not undo A's");
        a.set_minimum_delay(Duration::ZERO);
        assert_eq!(*asked.lock().unwrap(), Duration::from_millis(20));
    }
}
