//! Whether a screen share's frames come as motion or as text, judged from their timestamps: the capture
//! sends text at up to 15 frames a second and motion at up to 30, and the encoders follow (VP8 its quantizer
//! ceiling, openh264 the frame rate its rate control budgets for).

use std::time::Duration;

/// Frames coming faster than this, smoothed, are motion (text comes every 67 ms at the most).
const ENTER: f64 = 0.045;
/// ... and slower than this again are text (a margin, so a rate near the line does not flip back and forth).
const LEAVE: f64 = 0.055;
/// The smoothing of the gaps (each new gap's weight).
const WEIGHT: f64 = 0.25;

#[derive(Clone, Debug)]
pub(crate) struct MotionWatch {
    last: Option<Duration>,
    /// Smoothed gap between frames, in seconds.
    interval: f64,
    motion: bool,
}

impl MotionWatch {
    pub(crate) fn new() -> Self {
        MotionWatch { last: None, interval: 1.0, motion: false }
    }

    /// A frame captured at `timestamp`: `Some(motion)` when the judgement changed with it.
    pub(crate) fn frame(&mut self, timestamp: Duration) -> Option<bool> {
        if let Some(last) = self.last {
            let gap = timestamp.saturating_sub(last).as_secs_f64().min(1.0);
            self.interval += (gap - self.interval) * WEIGHT;
        }
        self.last = Some(timestamp);
        let motion = if self.motion { self.interval < LEAVE } else { self.interval < ENTER };
        (motion != self.motion).then(|| {
            self.motion = motion;
            motion
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(watch: &mut MotionWatch, at: &mut Duration, n: u32, every_ms: u64) -> Vec<bool> {
        (0..n)
            .filter_map(|_| {
                *at += Duration::from_millis(every_ms);
                watch.frame(*at)
            })
            .collect()
    }

    #[test]
    fn text_motion_and_back_with_a_margin() {
        let (mut watch, mut at) = (MotionWatch::new(), Duration::ZERO);
        assert!(run(&mut watch, &mut at, 20, 67).is_empty(), "15 a second is text");
        assert_eq!(run(&mut watch, &mut at, 20, 33), [true], "30 a second is motion, once");
        // 20 a second (50 ms): between the lines, it stays what it was.
        assert!(run(&mut watch, &mut at, 20, 50).is_empty(), "no flapping near the line");
        assert_eq!(run(&mut watch, &mut at, 20, 200), [false], "a still screen is text again");
        assert!(run(&mut watch, &mut at, 20, 50).is_empty(), "and 20 a second does not bring motion back");
    }
}
