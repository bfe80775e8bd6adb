//! The presenter: decoded video frames wait here until lip sync says they are due, then go to the sink,
//! in order — ahead of that by the sink's own latency (a window's display path), so they are *seen* when
//! due. Its own thread, so a held frame never stalls decoding. A frame due before the one ahead of it
//! (the audio path got faster) goes out with it; more than [`QUEUE`] frames waiting (a sink that blocks)
//! pushes the oldest out at once rather than holding memory.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

use tincan_media::VideoFrame;
use tincan_media::source::VideoSink;

/// Frames held at most (~1 s at 30 fps; lip sync holds a frame 500 ms at most).
const QUEUE: usize = 32;

pub struct Presenter {
    frames: SyncSender<(VideoFrame, Instant)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Presenter {
    pub fn spawn(sink: Box<dyn VideoSink>) -> Self {
        let (frames, receiver) = sync_channel(QUEUE);
        // The call's and the participant's span follow the frames onto this thread.
        let span = tracing::Span::current();
        let thread = std::thread::Builder::new()
            .name("video-presenter".into())
            .spawn(move || span.in_scope(|| run(receiver, sink)))
            .expect("spawning a thread");
        Presenter { frames, thread: Some(thread) }
    }

    /// Show `frame` at `due`. Never blocks: if the presenter is that far behind, the frame is dropped.
    pub fn present(&self, frame: VideoFrame, due: Instant) -> bool {
        match self.frames.try_send((frame, due)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Stop after the frames already handed over; waits for the thread.
    pub fn finish(mut self) {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn run(frames: Receiver<(VideoFrame, Instant)>, mut sink: Box<dyn VideoSink>) {
    let mut waiting: VecDeque<(VideoFrame, Instant)> = VecDeque::new();
    loop {
        // When a frame handed over now is seen.
        let seen = Instant::now() + sink.latency().unwrap_or_default();
        while let Some((_, due)) = waiting.front() {
            // Order is kept: a frame due earlier than the one before it goes right after that one.
            if *due > seen && waiting.len() < QUEUE {
                break;
            }
            if let Some((frame, _)) = waiting.pop_front() {
                sink.on_frame(frame);
            }
        }
        let next = match waiting.front() {
            Some((_, due)) => frames.recv_timeout(due.saturating_duration_since(seen)),
            None => frames.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok((frame, due)) => waiting.push_back((frame, due)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // The track ended: what is left goes out at its time (lip sync holds a frame 500 ms at
                // most).
                for (frame, due) in waiting.drain(..) {
                    let seen = Instant::now() + sink.latency().unwrap_or_default();
                    std::thread::sleep(due.saturating_duration_since(seen));
                    sink.on_frame(frame);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn frame(n: u64) -> VideoFrame {
        VideoFrame::from_i420(2, 2, Duration::from_millis(n), vec![0; 6]).unwrap()
    }

    #[test]
    fn frames_go_out_at_their_time_in_order() {
        let shown: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let record = shown.clone();
        let presenter = Presenter::spawn(Box::new(move |f: VideoFrame| {
            record.lock().unwrap().push((f.timestamp.as_millis() as u64, Instant::now()))
        }));
        let t0 = Instant::now();
        assert!(presenter.present(frame(1), t0 + Duration::from_millis(80)));
        assert!(presenter.present(frame(2), t0 + Duration::from_millis(40))); // due earlier: after 1
        assert!(presenter.present(frame(3), t0));
        assert!(presenter.present(frame(4), t0 + Duration::from_millis(150)));
        presenter.finish();
        let shown = shown.lock().unwrap();
        let order: Vec<u64> = shown.iter().map(|s| s.0).collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
        let at = |i: usize| shown[i].1.duration_since(t0).as_millis();
        assert!((80..120).contains(&at(0)), "first shown after {} ms", at(0));
        assert!(at(2) < 120, "third not held behind its time: {} ms", at(2));
        assert!((150..200).contains(&at(3)), "fourth shown after {} ms", at(3));
    }

    /// A window that takes 30 ms to show what it gets.
    struct Window(Arc<Mutex<Vec<Instant>>>);

    impl VideoSink for Window {
        fn on_frame(&mut self, _: VideoFrame) {
            self.0.lock().unwrap().push(Instant::now());
        }
        fn latency(&self) -> Option<Duration> {
            Some(Duration::from_millis(30))
        }
    }

    #[test]
    fn a_sink_with_a_display_latency_gets_frames_that_much_earlier() {
        let handed: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let presenter = Presenter::spawn(Box::new(Window(handed.clone())));
        let t0 = Instant::now();
        assert!(presenter.present(frame(1), t0 + Duration::from_millis(100)));
        presenter.finish();
        let at = handed.lock().unwrap()[0].duration_since(t0).as_millis();
        assert!((70..95).contains(&at), "handed over after {at} ms, to be seen at 100 ms");
    }
}
