//! Screen capture: what a user shares. A [`ScreenSource`] is a `VideoSource` like a camera: it captures text
//! at up to 15 frames a second and motion at up to 30 ([`Pace`]), sends a still screen only a few times a
//! second (a still screen costs next to nothing and lets text sharpen), and converts to I420 with the pointer
//! drawn in.
//!
//! Backends sit behind [`Capturer`]:
//! * X11 ([`x11`]): the whole screen, one monitor (RandR) or one window (Composite: only that window, even
//!   when covered), read through MIT-SHM (x11rb), the pointer from XFixes.
//! * Wayland ([`portal`]): the ScreenCast portal (`ashpd`) hands a PipeWire stream (`pipewire`); the desktop's
//!   own dialog chooses what is shared. Used whenever `WAYLAND_DISPLAY` is set (X11 capture there would see
//!   only XWayland's windows).
//! * Windows would use Windows.Graphics.Capture (the `windows-capture` crate), macOS ScreenCaptureKit
//!   (`screencapturekit`); neither is built.

mod convert;
mod pace;
mod portal;
mod x11;

use std::time::{Duration, Instant};

use tincan_media::VideoFrame;
use tincan_media::source::VideoSource;

pub use convert::{Bgrx, Cursor, bgrx_to_i420};
use convert::{Earlier, bgrx_to_i420_since};
pub use pace::Pace;
pub use portal::{Offer, PortalCapturer};
pub use x11::X11Capturer;

use crate::{DeviceError, Result};

/// What to share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The whole screen (`None`) or one monitor, counted from 0 as RandR lists them.
    Screen(Option<usize>),
    /// The first window whose title contains this text.
    Window(String),
    /// One window by its id (what the picker lists).
    WindowId(u32),
}

/// Something that can be shared, as a picker lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Shareable {
    /// What to pass back (`screen`, `screen:N`, `window-id:ID`).
    pub target: String,
    /// `screen`, `monitor`, `window`, or `portal` (the desktop's dialog chooses).
    pub kind: &'static str,
    /// What a person reads: "Entire screen", a monitor's name, a window's title.
    pub label: String,
    pub width: u32,
    pub height: u32,
}

/// Whether this session is a Wayland one (then the portal, whatever `DISPLAY` says).
fn wayland() -> bool {
    std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
}

/// What this session can share (the whole screen first, then monitors, then windows). On Wayland one line:
/// the desktop's own dialog chooses.
pub fn shareable() -> Result<Vec<Shareable>> {
    if wayland() {
        // The ellipsis: a dialog follows (the desktop's own).
        let label = "Choose a screen or window…".into();
        return Ok(vec![Shareable { target: "screen".into(), kind: "portal", label, width: 0, height: 0 }]);
    }
    if std::env::var_os("DISPLAY").is_some() {
        return x11::list();
    }
    Err(no_capture(&Target::Screen(None)))
}

impl std::str::FromStr for Target {
    type Err = DeviceError;

    /// `screen`, `screen:N` or `window:TITLE`.
    fn from_str(s: &str) -> Result<Target> {
        let bad = || DeviceError::NotFound { kind: "share target", wanted: Some(s.to_string()) };
        match s.split_once(':') {
            None if s == "screen" => Ok(Target::Screen(None)),
            Some(("screen", n)) => n.parse().map(|n| Target::Screen(Some(n))).map_err(|_| bad()),
            Some(("window", title)) if !title.is_empty() => Ok(Target::Window(title.to_string())),
            Some(("window-id", id)) => {
                let id = id.strip_prefix("0x").map_or_else(|| id.parse(), |hex| u32::from_str_radix(hex, 16));
                id.map(Target::WindowId).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

/// One captured picture, 32-bit BGRX rows.
pub struct Grab<'a> {
    pub image: Bgrx<'a>,
    /// The pointer, if it is over what is captured (its position relative to the picture).
    pub cursor: Option<Cursor>,
}

/// A way of capturing what is shown.
pub trait Capturer: Send {
    fn grab(&mut self) -> Result<Grab<'_>>;
    fn describe(&self) -> String;
}

/// Open the capturer this session can use for `target`. On Wayland this shows the desktop's dialog (a screen
/// target offers screens and windows, a window target windows) and blocks until the person chooses.
pub fn open(target: &Target) -> Result<Box<dyn Capturer>> {
    if wayland() {
        let offer = match target {
            Target::Screen(_) => Offer::Anything,
            Target::Window(_) | Target::WindowId(_) => Offer::Windows,
        };
        return Ok(Box::new(PortalCapturer::open(offer)?));
    }
    if std::env::var_os("DISPLAY").is_some() {
        return Ok(Box::new(X11Capturer::open(target)?));
    }
    Err(no_capture(target))
}

fn no_capture(target: &Target) -> DeviceError {
    DeviceError::Backend {
        kind: "screen",
        name: format!("{target:?}"),
        message: "no display to capture (neither DISPLAY nor WAYLAND_DISPLAY is set)".into(),
    }
}

/// A still screen is sent this often (the encoder sharpens it meanwhile; a new viewer gets a picture).
const STILL_EVERY: Duration = Duration::from_millis(200);

/// The shared screen as a video source.
pub struct ScreenSource {
    capturer: Box<dyn Capturer>,
    pace: Pace,
    next_at: Instant,
    started: Instant,
    last_sent: Option<Instant>,
    /// The last image captured and sent, to tell a still screen and the rows that changed.
    last: Vec<u8>,
    last_cursor: Option<(i32, i32)>,
    /// The rows the pointer covered in it.
    last_cursor_rows: Option<(i32, i32)>,
    /// What it was converted to.
    previous: Option<VideoFrame>,
    delay: Duration,
}

impl ScreenSource {
    /// Capture `target` at up to `fps` frames a second (1 to 30; text at up to 15, see [`Pace`]).
    pub fn open(target: &Target, fps: u32) -> Result<ScreenSource> {
        Ok(ScreenSource::new(open(target)?, fps))
    }

    pub fn new(capturer: Box<dyn Capturer>, fps: u32) -> ScreenSource {
        let now = Instant::now();
        ScreenSource {
            capturer,
            pace: Pace::new(fps),
            next_at: now,
            started: now,
            last_sent: None,
            last: Vec::new(),
            last_cursor: None,
            last_cursor_rows: None,
            previous: None,
            delay: Duration::ZERO,
        }
    }
}

impl VideoSource for ScreenSource {
    fn next_frame(&mut self) -> tincan_media::Result<VideoFrame> {
        loop {
            let now = Instant::now();
            if self.next_at > now {
                std::thread::sleep(self.next_at - now);
            }
            // Behind (a slow grab): the next tick from now, not a burst to catch up.
            self.next_at = (self.next_at + self.pace.interval()).max(Instant::now());
            let grabbed_at = Instant::now();
            let grab = match self.capturer.grab() {
                Ok(grab) => grab,
                // A shared window that is gone, or a share the desktop ended, does not come back: the share
                // ends (the sender sees the source end). Anything else is retried by the sender.
                Err(DeviceError::Lost { .. }) => return Err(tincan_media::MediaError::Ended),
                Err(e) => return Err(e.into()),
            };
            let cursor_at = grab.cursor.as_ref().map(|c| (c.x, c.y));
            let still = grab.image.data == self.last.as_slice() && cursor_at == self.last_cursor;
            if still && self.last_sent.is_some_and(|t| t.elapsed() < STILL_EVERY) {
                continue;
            }
            let cursor_rows = grab.cursor.as_ref().map(|c| (c.y, c.y + c.height as i32));
            let under = |rows: Option<(i32, i32)>, pair: usize| {
                rows.is_some_and(|(top, bottom)| (top..bottom).any(|y| y >= 0 && y as usize / 2 == pair))
            };
            let timestamp = self.started.elapsed();
            let last_rows = self.last_cursor_rows;
            let (frame, differed) = match self.previous.take() {
                Some(frame) => bgrx_to_i420_since(
                    &grab.image,
                    grab.cursor.as_ref(),
                    timestamp,
                    Earlier { image: &self.last, frame },
                    |pair| under(cursor_rows, pair) || under(last_rows, pair),
                )?,
                None => (bgrx_to_i420(&grab.image, grab.cursor.as_ref(), timestamp)?, 0.0),
            };
            self.pace.record(differed);
            if !still {
                self.last.clear();
                self.last.extend_from_slice(grab.image.data);
                self.last_cursor = cursor_at;
                self.last_cursor_rows = cursor_rows;
            }
            self.previous = Some(frame.clone());
            self.last_sent = Some(Instant::now());
            self.delay = grabbed_at.elapsed();
            return Ok(frame);
        }
    }

    fn describe(&self) -> String {
        self.capturer.describe()
    }

    fn capture_delay(&self) -> Option<Duration> {
        Some(self.delay)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!("screen".parse::<Target>().unwrap(), Target::Screen(None));
        assert_eq!("screen:1".parse::<Target>().unwrap(), Target::Screen(Some(1)));
        assert_eq!("window:Firefox — notes".parse::<Target>().unwrap(), Target::Window("Firefox — notes".into()));
        assert_eq!("window-id:0x1a00007".parse::<Target>().unwrap(), Target::WindowId(0x1a00007));
        assert_eq!("window-id:42".parse::<Target>().unwrap(), Target::WindowId(42));
        for bad in ["", "screens", "screen:x", "window:", "tab:1", "window-id:x"] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }

    /// A capturer that shows a still picture, then (at its sixth grab) a changed one.
    struct Still {
        pixels: Vec<u8>,
        grabs: Arc<AtomicU32>,
    }

    impl Capturer for Still {
        fn grab(&mut self) -> Result<Grab<'_>> {
            if self.grabs.fetch_add(1, Ordering::Relaxed) + 1 == 6 {
                self.pixels[0] = 255;
            }
            Ok(Grab { image: Bgrx { data: &self.pixels, width: 16, height: 16, stride: 64 }, cursor: None })
        }
        fn describe(&self) -> String {
            "still".into()
        }
    }

    #[test]
    fn a_still_screen_is_held_back_and_a_change_goes_at_once() {
        let grabs = Arc::new(AtomicU32::new(0));
        let capturer = Box::new(Still { pixels: vec![0; 16 * 16 * 4], grabs: grabs.clone() });
        let mut source = ScreenSource::new(capturer, 30);
        let first = source.next_frame().unwrap();
        let sent = Instant::now();
        let second = source.next_frame().unwrap();
        let n = grabs.load(Ordering::Relaxed);
        // Either the change (grab 6) came first, or the still picture went again, but not before STILL_EVERY.
        if n == 6 {
            assert_ne!(first.y()[0], second.y()[0], "the changed picture");
        } else {
            assert!(n < 6 && sent.elapsed() >= STILL_EVERY - Duration::from_millis(1), "{n} grabs");
            assert_eq!(first.y(), second.y());
        }
        // The grabs in between that saw the same picture were not sent.
        assert!(n >= 2, "{n}");
    }
}
