//! Finding audio devices (cpal's default host: ALSA on Linux, which reaches PulseAudio and PipeWire through
//! their ALSA plugins — cpal's own PulseAudio host delivered audio in 2-second bursts here).

use cpal::traits::{DeviceTrait, HostTrait};
use serde::Serialize;

use crate::{DeviceError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Input,
    Output,
}

impl Direction {
    pub fn kind(self) -> &'static str {
        match self {
            Direction::Input => "microphone",
            Direction::Output => "speaker",
        }
    }
}

/// One device as the user picks it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AudioDeviceInfo {
    /// What to pass back to choose it (stable across runs where the system allows).
    pub id: String,
    /// What to show.
    pub name: String,
    pub direction: Direction,
    /// The system's default device for this direction.
    pub is_default: bool,
    /// Its default format: rate (Hz) and channels.
    pub sample_rate: u32,
    pub channels: u16,
}

fn host() -> cpal::Host {
    cpal::default_host()
}

fn id_of(device: &cpal::Device) -> String {
    device.id().map(|id| id.to_string()).unwrap_or_else(|_| device.to_string())
}

fn name_of(device: &cpal::Device) -> String {
    device.description().map(|d| d.name().to_owned()).unwrap_or_else(|_| id_of(device))
}

/// Every device of one direction, the default first.
pub fn list(direction: Direction) -> Result<Vec<AudioDeviceInfo>> {
    let host = host();
    let backend = |e: cpal::Error| DeviceError::Backend {
        kind: direction.kind(),
        name: host.id().name().to_owned(),
        message: e.to_string(),
    };
    let (devices, default): (Vec<cpal::Device>, Option<cpal::Device>) = match direction {
        Direction::Input => (host.input_devices().map_err(backend)?.collect(), host.default_input_device()),
        Direction::Output => (host.output_devices().map_err(backend)?.collect(), host.default_output_device()),
    };
    let default_id = default.as_ref().map(id_of);
    // ALSA lists every plugin it knows (rate converters, JACK, OSS...); only what opens with a format is a
    // device a user can pick.
    let mut out: Vec<AudioDeviceInfo> = devices
        .iter()
        .filter_map(|d| {
            let config = match direction {
                Direction::Input => d.default_input_config(),
                Direction::Output => d.default_output_config(),
            }
            .ok()?;
            let id = id_of(d);
            Some(AudioDeviceInfo {
                is_default: Some(&id) == default_id.as_ref(),
                name: name_of(d),
                id,
                direction,
                sample_rate: config.sample_rate(),
                channels: config.channels(),
            })
        })
        .collect();
    out.sort_by_key(|d| !d.is_default);
    Ok(out)
}

/// The device to use: `wanted` by id, then by name, then by a case-insensitive part of either; `None` is
/// the system default.
pub fn find(direction: Direction, wanted: Option<&str>) -> Result<(cpal::Device, String)> {
    let host = host();
    let not_found = || DeviceError::NotFound { kind: direction.kind(), wanted: wanted.map(str::to_owned) };
    let Some(wanted) = wanted else {
        let device = match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        }
        .ok_or_else(not_found)?;
        let name = name_of(&device);
        return Ok((device, name));
    };
    let devices: Vec<cpal::Device> = match direction {
        Direction::Input => host.input_devices().map(|d| d.collect()),
        Direction::Output => host.output_devices().map(|d| d.collect()),
    }
    .map_err(|e| DeviceError::Backend {
        kind: direction.kind(),
        name: wanted.to_owned(),
        message: e.to_string(),
    })?;
    let lower = wanted.to_lowercase();
    let pick = devices
        .iter()
        .position(|d| id_of(d) == wanted)
        .or_else(|| devices.iter().position(|d| name_of(d) == wanted))
        .or_else(|| {
            devices
                .iter()
                .position(|d| id_of(d).to_lowercase().contains(&lower) || name_of(d).to_lowercase().contains(&lower))
        })
        .ok_or_else(not_found)?;
    let device = devices.into_iter().nth(pick).ok_or_else(not_found)?;
    let name = name_of(&device);
    Ok((device, name))
}
