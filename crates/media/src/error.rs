/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("frame size {width}x{height} is not supported: {reason}")]
    FrameSize { width: u32, height: u32, reason: &'static str },
    #[error("buffer of {got} bytes does not hold a {width}x{height} I420 frame ({expected} bytes)")]
    BufferSize { width: u32, height: u32, expected: usize, got: usize },
    #[error("the source has ended")]
    Ended,
    #[error("{codec} encoder: {message}")]
    Encoder { codec: &'static str, message: String },
    #[error("{codec} decoder: {message}")]
    Decoder { codec: &'static str, message: String },
    /// A capture or playback device failed or went away (it may come back: sources retry).
    #[error("device: {0}")]
    Device(String),
    #[error("scaling: {0}")]
    Scale(String),
}

pub type Result<T, E = MediaError> = std::result::Result<T, E>;
