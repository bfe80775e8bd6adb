use std::path::PathBuf;

/// Everything that can go wrong in the app. Each message is a sentence the UI can show as it is.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Invalid(String),
    #[error("Could not write {path}: {source}.")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("Could not save: {0}.")]
    Store(String),
    #[error("You are already in a call.")]
    Busy,
    #[error("There is no call.")]
    NoCall,
    #[error("That incoming call is no longer ringing.")]
    NoIncoming,
    #[error("{0}")]
    Engine(#[from] tincan_engine::EngineError),
    #[error("{0}")]
    Media(#[from] tincan_media::MediaError),
    #[error("The signaling server: {0}")]
    Signal(#[from] tincan_signal::Error),
    #[error("{0}")]
    Tauri(#[from] tauri::Error),
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
