use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the code contains {0:?}, which is not a letter or digit a code can have")]
    CodeCharacter(char),
    #[error("the code has {got} characters; it needs {expected}")]
    CodeLength { expected: usize, got: usize },
    #[error("the public key is not a valid Ed25519 key")]
    BadPublicKey,
    #[error("not an identity key (it must be 64 hexadecimal digits)")]
    BadSecretKey,
    #[error("the signature does not match the public key and the server's nonce")]
    BadSignature,
    #[error(
        "this server is not known as \u{201c}{0}\u{201d}: its operator lists the names clients use with --public-host"
    )]
    UnknownHost(String),
    #[error("invalid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot read {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("WebSocket: {0}")]
    WebSocket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the server answered {code}: {message}")]
    Server { code: crate::protocol::ErrorCode, message: String },
    #[error("the server did not answer in time")]
    Timeout,
    #[error("not connected to the signaling server")]
    NotConnected,
    #[error("the client has been closed")]
    Closed,
    #[error("the server speaks protocol version {server}, this client {client}")]
    Version { server: u32, client: u32 },
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
