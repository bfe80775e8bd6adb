//! Sources and sinks. A source blocks until its next frame is due (a camera until the device delivers, a
//! synthetic source until its clock says so), so each one runs on a thread of its own; sinks are called on
//! the thread that produced the frame and must not block for long.

use crate::{AudioFrame, Result, VideoFrame};

pub trait VideoSource: Send {
    /// The next frame; blocks until it is due. `Err(Ended)` when the source is gone for good.
    fn next_frame(&mut self) -> Result<VideoFrame>;
    /// What this is, for logs and the UI (e.g. `test pattern 640x480@30`).
    fn describe(&self) -> String;
}

pub trait AudioSource: Send {
    /// The next 20 ms; blocks until it is due.
    fn next_frame(&mut self) -> Result<AudioFrame>;
    fn describe(&self) -> String;
}

pub trait VideoSink: Send {
    fn on_frame(&mut self, frame: VideoFrame);
}

pub trait AudioSink: Send {
    fn on_frame(&mut self, frame: AudioFrame);
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
}
