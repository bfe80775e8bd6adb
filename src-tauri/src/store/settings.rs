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
    /// Join rooms and call contacts without the device check first (a link someone else made still
    /// shows it).
    pub skip_device_check: bool,
    /// The first close said that Tincan stays in the tray.
    pub tray_hint_shown: bool,
}

pub const MAX_NAME_CHARS: usize = 64;

/// What is wrong with one field of the settings, in words, for the UI to show next to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `display_name`, `server_url` or `ice_servers`.
    pub field: &'static str,
    pub message: String,
}

fn problem(field: &'static str, message: impl Into<String>) -> Problem {
    Problem { field, message: message.into() }
}

/// A server address as people type it: `chat.example.org` means `wss://chat.example.org/ws` (the path
/// Tincan's server uses); a machine on the local network (an IP address, `localhost`, `name.local`) means
/// plain `ws://`, as another Tincan app's built-in server speaks; anything with a scheme is taken as written.
fn complete_server_url(typed: &str) -> String {
    let typed = typed.trim();
    if typed.is_empty() || typed.contains("://") {
        return typed.to_owned();
    }
    let (host, path) = typed.split_once('/').map_or((typed, ""), |(h, p)| (h, p));
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => {
            host.rsplit_once(':').map_or(host, |(name, port)| if port.parse::<u16>().is_ok() { name } else { host })
        }
    };
    let local = name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || name.ends_with(".local");
    let scheme = if local { "ws" } else { "wss" };
    if path.is_empty() { format!("{scheme}://{host}/ws") } else { format!("{scheme}://{host}/{path}") }
}

impl Settings {
    /// Tidy what the user typed (trimmed, a bare host made a server address) and say, per field, what is
    /// still wrong.
    pub fn check(mut self) -> (Settings, Vec<Problem>) {
        let mut problems = Vec::new();
        self.display_name = self.display_name.trim().to_owned();
        if self.display_name.chars().count() > MAX_NAME_CHARS {
            problems.push(problem("display_name", format!("Your name can have at most {MAX_NAME_CHARS} characters.")));
        }
        self.server_url = complete_server_url(&self.server_url);
        if !self.server_url.is_empty() {
            let usable = url::Url::parse(&self.server_url)
                .is_ok_and(|url| matches!(url.scheme(), "ws" | "wss") && url.host_str().is_some_and(|h| !h.is_empty()));
            if !usable || self.server_url.contains(char::is_whitespace) {
                problems.push(problem(
                    "server_url",
                    "That is not a server address. It looks like chat.example.org or wss://chat.example.org/ws (ws:// only on a network you trust).",
                ));
            }
        }
        for server in &mut self.ice_servers {
            server.urls.retain(|u| !u.trim().is_empty());
            for u in &mut server.urls {
                *u = u.trim().to_owned();
                if !(u.starts_with("stun:") || u.starts_with("turn:") || u.starts_with("turns:")) {
                    problems.push(problem(
                        "ice_servers",
                        format!("{u} is not a STUN or TURN address: it looks like turn:host:3478, turns:host:443 or stun:host:3478."),
                    ));
                } else if u.starts_with("turn") && server.username.as_deref().unwrap_or("").is_empty() {
                    problems.push(problem(
                        "ice_servers",
                        "A TURN server needs the username and password its owner gave you.",
                    ));
                }
            }
        }
        self.ice_servers.retain(|s| !s.urls.is_empty());
        (self, problems)
    }

    /// The settings tidied, or the first problem as the error.
    pub fn validate(self) -> Result<Settings> {
        match self.check() {
            (settings, problems) if problems.is_empty() => Ok(settings),
            (_, problems) => Err(AppError::Invalid(problems[0].message.clone())),
        }
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
        assert!(
            bad(Settings { server_url: "not a url".into(), ..Default::default() }).contains("not a server address")
        );
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

    #[test]
    fn a_bare_host_is_a_server_address() {
        let url =
            |typed: &str| Settings { server_url: typed.into(), ..Default::default() }.validate().map(|s| s.server_url);
        assert_eq!(url("chat.example.org").unwrap(), "wss://chat.example.org/ws");
        assert_eq!(url(" chat.example.org:8443 ").unwrap(), "wss://chat.example.org:8443/ws");
        assert_eq!(url("example.org/tincan/ws").unwrap(), "wss://example.org/tincan/ws");
        assert_eq!(url("ws://10.0.0.5:7878/ws").unwrap(), "ws://10.0.0.5:7878/ws");
        // Another app's built-in server on the LAN speaks plain ws://.
        assert_eq!(url("192.168.1.5:7878").unwrap(), "ws://192.168.1.5:7878/ws");
        assert_eq!(url("[fe80::1]:7878").unwrap(), "ws://[fe80::1]:7878/ws");
        assert_eq!(url("desk.local:7878").unwrap(), "ws://desk.local:7878/ws");
        assert_eq!(url("").unwrap(), "");
        // No jargon from the URL parser ("relative URL without a base").
        let words = url("https://").unwrap_err().to_string();
        assert!(words.contains("not a server address") && !words.contains("base"), "{words}");
    }

    #[test]
    fn every_problem_is_said_next_to_its_field() {
        let s = Settings {
            display_name: "x".repeat(65),
            server_url: "exa mple".into(),
            ice_servers: vec![IceServer { urls: vec!["turn:t:3478".into()], username: None, credential: None }],
            ..Default::default()
        };
        let fields: Vec<&str> = s.check().1.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["display_name", "server_url", "ice_servers"]);
    }
}
