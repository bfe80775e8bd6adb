//! The stream format asked of a device: its default sample format and channels, 48 kHz when the device
//! offers it (no resampling), and 10 ms buffers when it allows them (latency).

use cpal::traits::DeviceTrait;
use cpal::{BufferSize, SampleFormat, StreamConfig, SupportedBufferSize, SupportedStreamConfig};

use super::host::Direction;
use crate::{DeviceError, Result};

pub const PREFERRED_RATE: u32 = 48_000;

/// A sample format this code has no conversion for.
pub fn unsupported(direction: Direction, device: &cpal::Device, format: SampleFormat) -> DeviceError {
    DeviceError::Backend {
        kind: direction.kind(),
        name: device.to_string(),
        message: format!("sample format {format} is not supported"),
    }
}

pub fn choose(device: &cpal::Device, direction: Direction) -> Result<(StreamConfig, SampleFormat)> {
    let backend = |e: cpal::Error| DeviceError::Backend {
        kind: direction.kind(),
        name: device.to_string(),
        message: e.to_string(),
    };
    let default = match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .map_err(backend)?;
    let ranges: Vec<_> = match direction {
        Direction::Input => device.supported_input_configs().map(|r| r.collect()),
        Direction::Output => device.supported_output_configs().map(|r| r.collect()),
    }
    .unwrap_or_default();
    let at_48k: Option<SupportedStreamConfig> = ranges
        .into_iter()
        .filter(|r| r.sample_format() == default.sample_format() && r.channels() == default.channels())
        .find_map(|r| r.try_with_sample_rate(PREFERRED_RATE));
    let chosen = at_48k.unwrap_or(default);
    let ten_ms = chosen.sample_rate() / 100;
    let buffer_size = match chosen.buffer_size() {
        SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&ten_ms) => BufferSize::Fixed(ten_ms),
        _ => BufferSize::Default,
    };
    let format = chosen.sample_format();
    Ok((StreamConfig { channels: chosen.channels(), sample_rate: chosen.sample_rate(), buffer_size }, format))
}
