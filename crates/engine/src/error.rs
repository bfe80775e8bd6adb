/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("signaling: {0}")]
    Signal(#[from] tincan_signal::Error),
    #[error("media: {0}")]
    Media(#[from] tincan_media::MediaError),
    #[error("WebRTC: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the call has ended")]
    CallEnded,
    #[error("no call is connected")]
    NotConnected,
    #[error("file transfer: {0}")]
    File(String),
    #[error("already in a call")]
    Busy,
    #[error("that call is no longer ringing")]
    RingGone,
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
