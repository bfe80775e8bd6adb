//! The boundary to camera hardware, as two small traits: a backend lists and opens cameras, an open camera
//! hands out raw frames. The real one is nokhwa's (V4L2 on Linux, AVFoundation, Media Foundation); tests
//! use their own, which is how absence and a camera vanishing mid-call are tested on machines without one.

use serde::Serialize;

use super::convert::{PixelFormat, RawFrame};
use super::mode::{Mode, Wanted};
use crate::Result;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraInfo {
    /// The backend's index (V4L2: /dev/videoN).
    pub index: u32,
    pub name: String,
    pub description: String,
    /// What it can capture (empty if it could not be asked).
    pub modes: Vec<Mode>,
}

/// An open camera. Lives on the capture thread that opened it (backends need not be `Send`).
pub trait CameraDevice {
    fn mode(&self) -> Mode;
    /// The next frame; blocks until the camera delivers. An error means the camera is gone or broken.
    fn grab(&mut self) -> Result<RawFrame>;
}

pub trait CameraBackend: Send + Sync {
    fn list(&self) -> Result<Vec<CameraInfo>>;
    fn open(&self, camera: &CameraInfo, wanted: Wanted) -> Result<Box<dyn CameraDevice>>;
}

/// `wanted` by index, exact name, or a case-insensitive part of the name.
pub fn pick<'a>(cameras: &'a [CameraInfo], wanted: &str) -> Option<&'a CameraInfo> {
    let lower = wanted.to_lowercase();
    cameras
        .iter()
        .find(|c| wanted.parse::<u32>().is_ok_and(|i| i == c.index))
        .or_else(|| cameras.iter().find(|c| c.name == wanted))
        .or_else(|| cameras.iter().find(|c| c.name.to_lowercase().contains(&lower)))
}

pub mod nokhwa_backend {
    //! nokhwa 0.10. Its `Camera` stops its stream in `Drop` with `unwrap()`, which panics when the device
    //! has been unplugged; the capture thread drops it inside `catch_unwind` (see `source.rs`).

    use nokhwa::utils::{
        ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
    };

    use super::*;
    use crate::DeviceError;

    const FORMATS: [FrameFormat; 3] = [FrameFormat::MJPEG, FrameFormat::YUYV, FrameFormat::NV12];

    fn ours(format: FrameFormat) -> Option<PixelFormat> {
        match format {
            FrameFormat::MJPEG => Some(PixelFormat::Mjpeg),
            FrameFormat::YUYV => Some(PixelFormat::Yuyv),
            FrameFormat::NV12 => Some(PixelFormat::Nv12),
            _ => None,
        }
    }

    fn theirs(format: PixelFormat) -> FrameFormat {
        match format {
            PixelFormat::Mjpeg => FrameFormat::MJPEG,
            PixelFormat::Yuyv => FrameFormat::YUYV,
            PixelFormat::Nv12 => FrameFormat::NV12,
        }
    }

    fn backend(name: &str, e: impl std::fmt::Display) -> DeviceError {
        DeviceError::Backend { kind: "camera", name: name.to_owned(), message: e.to_string() }
    }

    fn mode_of(f: &CameraFormat) -> Option<Mode> {
        Some(Mode { format: ours(f.format())?, width: f.width(), height: f.height(), fps: f.frame_rate() })
    }

    pub struct Nokhwa;

    impl CameraBackend for Nokhwa {
        fn list(&self) -> Result<Vec<CameraInfo>> {
            let found = nokhwa::query(ApiBackend::Auto).map_err(|e| backend("query", e))?;
            Ok(found
                .into_iter()
                .filter_map(|c| {
                    let index = c.index().as_index().ok()?;
                    let modes = nokhwa::Camera::new(
                        CameraIndex::Index(index),
                        RequestedFormat::with_formats(RequestedFormatType::None, &FORMATS),
                    )
                    .and_then(|mut cam| cam.compatible_camera_formats())
                    .map(|formats| formats.iter().filter_map(mode_of).collect())
                    .unwrap_or_default();
                    Some(CameraInfo { index, name: c.human_name(), description: c.description().to_owned(), modes })
                })
                .collect())
        }

        fn open(&self, camera: &CameraInfo, wanted: Wanted) -> Result<Box<dyn CameraDevice>> {
            let chosen = super::super::mode::choose(&camera.modes, wanted);
            let request = match chosen {
                Some(m) => RequestedFormatType::Exact(CameraFormat::new(
                    Resolution::new(m.width, m.height),
                    theirs(m.format),
                    m.fps,
                )),
                None => RequestedFormatType::Closest(CameraFormat::new(
                    Resolution::new(wanted.width, wanted.height),
                    FrameFormat::MJPEG,
                    wanted.fps,
                )),
            };
            let mut cam =
                nokhwa::Camera::new(CameraIndex::Index(camera.index), RequestedFormat::with_formats(request, &FORMATS))
                    .map_err(|e| backend(&camera.name, e))?;
            cam.open_stream().map_err(|e| backend(&camera.name, e))?;
            let mode = mode_of(&cam.camera_format()).ok_or_else(|| {
                backend(&camera.name, format!("{} is not a format Tincan reads", cam.camera_format()))
            })?;
            Ok(Box::new(NokhwaCamera { cam, mode, name: camera.name.clone() }))
        }
    }

    struct NokhwaCamera {
        cam: nokhwa::Camera,
        mode: Mode,
        name: String,
    }

    impl CameraDevice for NokhwaCamera {
        fn mode(&self) -> Mode {
            self.mode
        }

        fn grab(&mut self) -> Result<RawFrame> {
            let data = self.cam.frame_raw().map_err(|e| DeviceError::Lost {
                kind: "camera",
                name: self.name.clone(),
                message: e.to_string(),
            })?;
            Ok(RawFrame {
                format: self.mode.format,
                width: self.mode.width,
                height: self.mode.height,
                data: data.into_owned(),
            })
        }
    }
}
