//! The user's settings. Unknown fields are ignored and missing ones take their defaults, so files from
//! older or newer versions still load.

use serde::{Deserialize, Serialize};
use tincan_signal::protocol::IceServer;

use crate::error::{AppError, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Empty until the first start is done.
    pub display_name: String,
    /// Empty: the embedded server (or one found on the LAN).
    pub server_url: String,
    /// Added to what the signaling server hands out.
    pub ice_servers: Vec<IceServer>,
    /// Device names; empty follows the system default.
    pub camera: String,
    pub microphone: String,
    pub speaker: String,
    pub start_at_login: bool,
    pub start_hidden: bool,
    pub theme: Theme,
    pub do_not_disturb: bool,
}

pub const MAX_NAME_CHARS: usize = 64;

impl Settings {
    /// Check what the user typed; the error says what to fix.
    pub fn validate(mut self) -> Result<Settings> {
        self.display_name = self.display_name.trim().to_owned();
        if self.display_name.chars().count() > MAX_NAME_CHARS {
            return Err(AppError::Invalid(format!("Your name can have at most {MAX_NAME_CHARS} characters.")));
        }
        self.server_url = self.server_url.trim().to_owned();
        if !self.server_url.is_empty() {
            let url = url::Url::parse(&self.server_url)
                .map_err(|e| AppError::Invalid(format!("The server address does not work: {e}.")))?;
            if !matches!(url.scheme(), "ws" | "wss") || url.host_str().is_none() {
                return Err(AppError::Invalid(
                    "The server address must look like wss://host/ws (or ws:// on a trusted network).".into(),
                ));
            }
        }
        for server in &mut self.ice_servers {
            server.urls.retain(|u| !u.trim().is_empty());
            for u in &mut server.urls {
                *u = u.trim().to_owned();
                if !(u.starts_with("stun:") || u.starts_with("turn:") || u.starts_with("turns:")) {
                    return Err(AppError::Invalid(format!(
                        "{u} is not a STUN or TURN address (stun:host:port, turn:host:port or turns:host:port)."
                    )));
                }
                if u.starts_with("turn") && server.username.as_deref().unwrap_or("").is_empty() {
                    return Err(AppError::Invalid(format!("The TURN server {u} needs a username and password.")));
                }
            }
        }
        self.ice_servers.retain(|s| !s.urls.is_empty());
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_partial_files_load() {
        let s: Settings = serde_json::from_str(r#"{"display_name":"Ana","future_field":1}"#).unwrap();
        assert_eq!(s.display_name, "Ana");
        assert_eq!(s.theme, Theme::System);
    }

    #[test]
    fn validation_says_what_is_wrong() {
        let ok =
            Settings { display_name: "  Ana ".into(), server_url: " wss://t.example/ws ".into(), ..Default::default() }
                .validate()
                .unwrap();
        assert_eq!((ok.display_name.as_str(), ok.server_url.as_str()), ("Ana", "wss://t.example/ws"));
        let bad = |s: Settings| s.validate().unwrap_err().to_string();
        assert!(bad(Settings { server_url: "http://x/ws".into(), ..Default::default() }).contains("wss://"));
        assert!(bad(Settings { server_url: "not a url".into(), ..Default::default() }).contains("does not work"));
        assert!(bad(Settings { display_name: "x".repeat(65), ..Default::default() }).contains("64"));
        let ice = |url: &str, user: Option<&str>| Settings {
            ice_servers: vec![IceServer { urls: vec![url.into()], username: user.map(Into::into), credential: None }],
            ..Default::default()
        };
        assert!(bad(ice("http://stun", None)).contains("not a STUN or TURN"));
        assert!(bad(ice("turn:t.example:3478", None)).contains("username"));
        assert!(ice("stun:s.example:3478", None).validate().is_ok());
        assert!(ice("turn:t.example:3478", Some("u")).validate().is_ok());
    }
}
