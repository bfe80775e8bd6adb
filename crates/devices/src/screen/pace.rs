//! How often a share captures. Text — typing, a caret, a clock, a line that changes — goes at a calm rate, so
//! each picture gets more bits and stays sharp; motion — a video, a scrolling page, a game — goes at up to
//! twice that (30 a second), where smoothness matters more than any one picture. A still screen is re-sent on its own clock
//! (the source's business, not this). Under pressure the encoder drops what it cannot take.
//!
//! A pure state machine: fed how much of each sent picture's area changed, it says how long until the next capture.
//! It switches only after several pictures agree, so one big change (a window raised, a slide turned) does
//! not flip it, and neither does one still moment in a video.

use std::time::Duration;

/// A picture counts as motion when at least this part of its area changed (a 640x360 video is a quarter of a
/// 1280x720 screen and a ninth of a 1920x1080 one; a 320x240 self-view is 4 % of the latter).
pub const MOTION_SHARE: f64 = 0.1;
/// Pictures in a row that agree before the rate switches.
pub const SWITCH_AFTER: u32 = 3;
/// The calm rate never goes above this (text gains nothing from more).
pub const CALM_FPS: u32 = 15;

#[derive(Clone, Debug)]
pub struct Pace {
    calm: Duration,
    moving: Duration,
    motion: bool,
    /// Pictures in a row that disagree with the current rate.
    against: u32,
}

impl Pace {
    /// Motion at up to `max_fps` (1 to 30), text at up to [`CALM_FPS`].
    pub fn new(max_fps: u32) -> Pace {
        let max = max_fps.clamp(1, 30);
        let calm = max.min(CALM_FPS);
        Pace { calm: Duration::from_secs(1) / calm, moving: Duration::from_secs(1) / max, motion: false, against: 0 }
    }

    /// A picture was sent: `changed` is the part of its area (0 to 1) that differs from the one before.
    pub fn record(&mut self, changed: f64) {
        let moving = changed >= MOTION_SHARE;
        if moving == self.motion {
            self.against = 0;
            return;
        }
        self.against += 1;
        if self.against >= SWITCH_AFTER {
            (self.motion, self.against) = (moving, 0);
        }
    }

    /// How long from one capture to the next.
    pub fn interval(&self) -> Duration {
        if self.motion { self.moving } else { self.calm }
    }

    pub fn in_motion(&self) -> bool {
        self.motion
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fps(pace: &Pace) -> u32 {
        (Duration::from_secs(1).as_secs_f64() / pace.interval().as_secs_f64()).round() as u32
    }

    #[test]
    fn text_goes_calm_and_motion_twice_as_often() {
        let mut pace = Pace::new(30);
        assert_eq!(fps(&pace), 15, "a share starts calm");
        // Typing: a word on a line changes in each picture; a self-view plays in a corner.
        for _ in 0..20 {
            pace.record(0.002);
            pace.record(0.04);
        }
        assert_eq!(fps(&pace), 15);
        // A video playing over a third of the screen.
        for n in 1..=SWITCH_AFTER {
            pace.record(0.35);
            assert_eq!(pace.in_motion(), n == SWITCH_AFTER, "after {n} moving pictures");
        }
        assert_eq!(fps(&pace), 30);
        // It stops: back to calm after the same number of pictures.
        for _ in 0..SWITCH_AFTER {
            pace.record(0.0);
        }
        assert_eq!(fps(&pace), 15);
    }

    #[test]
    fn one_big_change_or_one_still_moment_does_not_switch() {
        let mut pace = Pace::new(30);
        // A slide turned: everything changes once, then text again.
        pace.record(1.0);
        pace.record(0.01);
        pace.record(1.0);
        pace.record(1.0);
        assert!(!pace.in_motion(), "two in a row are not yet motion");
        pace.record(1.0);
        assert!(pace.in_motion());
        // A video with a still frame (an encoder-friendly cut) between moving ones stays in motion.
        pace.record(0.0);
        pace.record(0.5);
        pace.record(0.0);
        pace.record(0.0);
        assert!(pace.in_motion());
    }

    #[test]
    fn rates_are_bounded() {
        assert_eq!(fps(&Pace::new(0)), 1);
        assert_eq!(fps(&Pace::new(10)), 10, "a low cap is the calm rate too");
        let mut fast = Pace::new(120);
        for _ in 0..SWITCH_AFTER {
            fast.record(1.0);
        }
        assert_eq!(fps(&fast), 30);
    }
}
