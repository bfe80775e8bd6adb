//! Cameras.

pub mod convert;
pub mod device;
pub mod mode;
pub mod source;

pub use convert::{PixelFormat, RawFrame};
pub use device::{CameraBackend, CameraDevice, CameraInfo, nokhwa_backend::Nokhwa};
pub use mode::{Mode, Wanted};
pub use source::{CameraOptions, CameraSource, CameraStats};

/// Every camera the system has (nokhwa), with what each can capture.
pub fn list() -> crate::Result<Vec<CameraInfo>> {
    Nokhwa.list()
}
