//! What the app is asked to open: `tincan://join/ROOM`, `tincan://call/PERSONAL-CODE` (deep links, from a
//! browser or `gio open`), or `--join ROOM` / `--call CODE` on the command line.

use serde::Serialize;
use tincan_signal::code::{PersonalCode, RoomCode};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "screen", content = "code", rename_all = "snake_case")]
pub enum Open {
    Join(String),
    Call(String),
}

/// The first thing in `args` (a command line, or deep-link URLs) that names a room or a contact.
pub fn from_args(args: &[String]) -> Option<Open> {
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(rest) = a.strip_prefix("tincan://") {
            return from_url_path(rest);
        }
        let next = args.get(i + 1)?;
        match a.as_str() {
            "--join" => join(next),
            "--call" => call(next),
            _ => None,
        }
    })
}

fn from_url_path(rest: &str) -> Option<Open> {
    let (kind, code) = rest.trim_end_matches('/').split_once('/')?;
    // Links typed or pasted may carry `%20` for the spaces people put in codes.
    let code = percent_encoding::percent_decode_str(code).decode_utf8_lossy();
    match kind {
        "join" => join(&code),
        "call" => call(&code),
        _ => None,
    }
}

fn join(code: &str) -> Option<Open> {
    RoomCode::parse(code).ok().map(|c| Open::Join(c.to_string()))
}

fn call(code: &str) -> Option<Open> {
    PersonalCode::parse(code).ok().map(|c| Open::Call(c.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn links_and_flags() {
        assert_eq!(from_args(&args(&["tincan://join/7kq2-m9xd-4htb/"])), Some(Open::Join("7KQ2-M9XD-4HTB".into())));
        assert_eq!(
            from_args(&args(&["/usr/bin/tincan", "tincan://call/7kq2%20m9xd%204htb%20pa3e"])),
            Some(Open::Call("7KQ2-M9XD-4HTB-PA3E".into()))
        );
        assert_eq!(from_args(&args(&["--join", "7KQ2 M9XD 4HTB"])), Some(Open::Join("7KQ2-M9XD-4HTB".into())));
        assert_eq!(from_args(&args(&["--call", "7KQ2M9XD4HTBPA3E"])), Some(Open::Call("7KQ2-M9XD-4HTB-PA3E".into())));
        assert_eq!(from_args(&args(&["--join", "nope"])), None);
        assert_eq!(from_args(&args(&["tincan://call/7KQ2-M9XD-4HTB"])), None); // a room code is no personal code
        assert_eq!(from_args(&args(&["tincan://delete/7KQ2-M9XD-4HTB"])), None);
        assert_eq!(from_args(&args(&["--join"])), None);
        assert_eq!(from_args(&[]), None);
    }
}
