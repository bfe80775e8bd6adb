/// Everything that can go wrong with a device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no {kind} found{}", wanted.as_ref().map(|w| format!(" matching \"{w}\"")).unwrap_or_default())]
    NotFound { kind: &'static str, wanted: Option<String> },
    #[error("{kind} \"{name}\": {message}")]
    Backend { kind: &'static str, name: String, message: String },
    #[error("{kind} \"{name}\" stopped delivering: {message}")]
    Lost { kind: &'static str, name: String, message: String },
    #[error("frame of {format} {width}x{height}: {message}")]
    Format { format: &'static str, width: u32, height: u32, message: String },
    #[error("resampling: {0}")]
    Resample(String),
    #[error("audio processing: {0}")]
    Processing(String),
    #[error("the computer's sound cannot be shared: {0}")]
    SystemSound(String),
}

pub type Result<T, E = DeviceError> = std::result::Result<T, E>;

impl From<DeviceError> for tincan_media::MediaError {
    fn from(e: DeviceError) -> Self {
        tincan_media::MediaError::Device(e.to_string())
    }
}
