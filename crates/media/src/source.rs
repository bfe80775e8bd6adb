//! Sources and sinks. A source blocks until its next frame is due (a camera until the device delivers, a
//! synthetic source until its clock says so), so each one runs on a thread of its own; sinks are called on
//! the thread that produced the frame and must not block for long.

use std::time::Duration;

use crate::{AudioFrame, Result, VideoFrame};

pub trait VideoSource: Send {
    /// The next frame; blocks until it is due. `Err(Ended)` when the source is gone for good.
    fn next_frame(&mut self) -> Result<VideoFrame>;
    /// What this is, for logs and the UI (e.g. `test pattern 640x480@30`).
    fn describe(&self) -> String;
    /// How long before `next_frame` returned the frame was captured (a camera's hand-off and conversion).
    /// `None`: at the moment it was returned (synthetic sources). Lip sync at the other end uses it.
    fn capture_delay(&self) -> Option<Duration> {
        None
    }
}

pub trait AudioSource: Send {
    /// The next 20 ms; blocks until it is due.
    fn next_frame(&mut self) -> Result<AudioFrame>;
    fn describe(&self) -> String;
    /// How long before `next_frame` returned the frame its first sample was captured (a microphone: the
    /// frame's own 20 ms, buffering, the device's latency). `None`: at the moment it was returned.
    fn capture_delay(&self) -> Option<Duration> {
        None
    }
}

/// Sound that goes out along with the microphone, taken as it comes (a screen share's sound): the thread
/// that sends the microphone pulls from it once per frame and must never wait for it.
pub trait AudioFeed: Send {
    /// Add up to one frame's worth of what has arrived (48 kHz mono) into `out`; fewer samples than asked
    /// for leave the rest as it was. `Err(Ended)` when the feed is gone for good.
    fn mix_into(&mut self, out: &mut [i16]) -> Result<()>;
    fn describe(&self) -> String;
}

pub trait VideoSink: Send {
    fn on_frame(&mut self, frame: VideoFrame);
    /// How long from being handed a frame until it is on screen (a window's display path). `None`: at once;
    /// lip sync hands frames over this much ahead of their time.
    fn latency(&self) -> Option<Duration> {
        None
    }
}

pub trait AudioSink: Send {
    fn on_frame(&mut self, frame: AudioFrame);
    /// How long from now until the last sample handed over is heard (what it holds plus the device's own
    /// latency). `None`: the sink does not know (it plays nothing); lip sync then takes it as heard at once.
    fn latency(&self) -> Option<Duration> {
        None
    }
    /// Hold at least this much audio before playing (lip sync asks for it when video arrives later than
    /// audio). Sinks without a buffer ignore it.
    fn set_minimum_delay(&mut self, _delay: Duration) {}
}

impl<F: FnMut(VideoFrame) + Send> VideoSink for F {
    fn on_frame(&mut self, frame: VideoFrame) {
        self(frame)
    }
}

impl<F: FnMut(AudioFrame) + Send> AudioSink for F {
    fn on_frame(&mut self, frame: AudioFrame) {
        self(frame)
    }
}

/// A video source that also hands each frame to a sink (a local preview). Frames share their pixels, so
/// the copy costs a reference count.
pub struct Tee<S> {
    source: S,
    sink: Box<dyn VideoSink>,
}

impl<S: VideoSource> Tee<S> {
    pub fn new(source: S, sink: Box<dyn VideoSink>) -> Self {
        Tee { source, sink }
    }
}

impl<S: VideoSource> VideoSource for Tee<S> {
    fn next_frame(&mut self) -> Result<VideoFrame> {
        let frame = self.source.next_frame()?;
        self.sink.on_frame(frame.clone());
        Ok(frame)
    }

    fn describe(&self) -> String {
        self.source.describe()
    }

    fn capture_delay(&self) -> Option<Duration> {
        self.source.capture_delay()
    }
}

/// A source or sink whose device can be changed while a call runs (the app's in-call pickers): the engine
/// holds the `Switchable`, the front end a [`Switch`] that puts another one in. The new device takes over
/// at the next frame; the old one is dropped then (closing its device).
pub struct Switchable<T: ?Sized>(std::sync::Arc<std::sync::Mutex<Box<T>>>);

/// Puts another device into a [`Switchable`].
pub struct Switch<T: ?Sized>(std::sync::Arc<std::sync::Mutex<Box<T>>>);

impl<T: ?Sized> Switchable<T> {
    pub fn new(inner: Box<T>) -> (Self, Switch<T>) {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(inner));
        (Switchable(shared.clone()), Switch(shared))
    }
}

impl<T: ?Sized> Switch<T> {
    /// Waits for the frame in progress (a source blocks until its next frame: at most a frame time, or a
    /// device's timeout).
    pub fn replace(&self, next: Box<T>) {
        let old = {
            let mut current = self.0.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *current, next)
        };
        drop(old);
    }
}

impl<T: ?Sized> Clone for Switch<T> {
    fn clone(&self) -> Self {
        Switch(self.0.clone())
    }
}

impl VideoSource for Switchable<dyn VideoSource> {
    fn next_frame(&mut self) -> Result<VideoFrame> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).next_frame()
    }

    fn describe(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).describe()
    }

    fn capture_delay(&self) -> Option<Duration> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).capture_delay()
    }
}

impl AudioSource for Switchable<dyn AudioSource> {
    fn next_frame(&mut self) -> Result<AudioFrame> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).next_frame()
    }

    fn describe(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).describe()
    }

    fn capture_delay(&self) -> Option<Duration> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).capture_delay()
    }
}

impl AudioSink for Switchable<dyn AudioSink> {
    fn on_frame(&mut self, frame: AudioFrame) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).on_frame(frame)
    }

    fn latency(&self) -> Option<Duration> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).latency()
    }

    fn set_minimum_delay(&mut self, delay: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).set_minimum_delay(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Constant(i16);

    impl AudioSource for Constant {
        fn next_frame(&mut self) -> Result<AudioFrame> {
            Ok(AudioFrame { timestamp: Duration::ZERO, samples: vec![self.0; 4] })
        }
        fn describe(&self) -> String {
            format!("constant {}", self.0)
        }
    }

    #[test]
    fn a_switch_changes_the_device_at_the_next_frame() {
        let (mut source, switch) = Switchable::<dyn AudioSource>::new(Box::new(Constant(1)));
        assert_eq!(source.next_frame().unwrap().samples[0], 1);
        switch.replace(Box::new(Constant(2)));
        assert_eq!(source.next_frame().unwrap().samples[0], 2);
        assert_eq!(source.describe(), "constant 2");
    }
}
