//! Tincan's real devices, behind the media crate's source and sink traits.
//!
//! * [`audio`] — microphones and speakers through cpal (ALSA on Linux, which also reaches PulseAudio and
//!   PipeWire through their ALSA plugins), any device format to 48 kHz mono and back (rubato), a playout
//!   buffer that adapts to network jitter, and echo cancellation / noise suppression / gain control
//!   (sonora, a Rust port of WebRTC's audio processing) with the speaker's signal as the far-end reference.
//! * [`camera`] — cameras through nokhwa (V4L2 on Linux): listing, format choice, MJPEG/YUYV/NV12 → I420,
//!   a capture thread with a one-frame hand-off, and a source that survives the camera going away.
//! * [`screen`] — what a user shares, as a video source: the X11 screen, a monitor or a window, or on Wayland
//!   what the desktop's own dialog chooses (the ScreenCast portal and PipeWire).
//! * [`notice`] — what a device wants the user to know (lost, switched, back).

pub mod audio;
pub mod camera;
mod error;
pub mod notice;
pub mod screen;

pub use error::{DeviceError, Result};
pub use notice::{DeviceNotice, Notices};
