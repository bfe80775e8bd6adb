//! What the app is asked to open: `tincan://join/ROOM`, `tincan://call/PERSONAL-CODE` (deep links, from a
//! browser or `gio open`), or `--join ROOM` / `--call CODE` on the command line; and the link the app
//! hands out for guests with only a browser (the server's guest page, `/r/ROOM`).

use std::net::IpAddr;

use serde::Serialize;
use tincan_signal::code::{PersonalCode, RoomCode};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Open {
    /// Join (or create) the room `code`. `link`: a `tincan://` link asked, which anyone may have made, so
    /// the device check asks first whatever the settings say; `--join` on the command line follows them.
    Join { code: String, link: bool },
    /// Ring the personal code `code` (`link` as for `Join`).
    Call { code: String, link: bool },
    /// The lobby, with the cursor in the room-code field (the tray's "Join room…").
    JoinForm,
    /// Answer the ring `call` (its notification's Accept).
    Answer { call: String },
}

/// The first thing in `args` (a command line, or deep-link URLs) that names a room or a contact.
pub fn from_args(args: &[String]) -> Option<Open> {
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(rest) = a.strip_prefix("tincan://") {
            return from_url_path(rest);
        }
        let next = args.get(i + 1)?;
        match a.as_str() {
            "--join" => join(next, false),
            "--call" => call(next, false),
            _ => None,
        }
    })
}

fn from_url_path(rest: &str) -> Option<Open> {
    let (kind, code) = rest.trim_end_matches('/').split_once('/')?;
    // Links typed or pasted may carry `%20` for the spaces people put in codes.
    let code = percent_encoding::percent_decode_str(code).decode_utf8_lossy();
    match kind {
        "join" => join(&code, true),
        "call" => call(&code, true),
        _ => None,
    }
}

fn join(code: &str, link: bool) -> Option<Open> {
    RoomCode::parse(code).ok().map(|c| Open::Join { code: c.to_string(), link })
}

fn call(code: &str, link: bool) -> Option<Open> {
    PersonalCode::parse(code).ok().map(|c| Open::Call { code: c.to_string(), link })
}

/// The guest page for `room` on the server at `server_url` (`ws://host:port/ws` → `http://host:port/r/ROOM`).
/// A server this app reaches on loopback (its own, embedded one) is reached by others at `lan`, this
/// machine's address on the network; without one the link would only work here, so there is none.
pub fn guest_link(server_url: &str, room: &RoomCode, lan: Option<IpAddr>) -> Option<String> {
    let mut url = url::Url::parse(server_url).ok()?;
    let scheme = match url.scheme() {
        "ws" => "http",
        "wss" => "https",
        _ => return None,
    };
    url.set_scheme(scheme).ok()?;
    let local = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => return None,
    };
    if local {
        url.set_ip_host(lan?).ok()?;
    }
    // Nothing private goes into a link people pass around.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    Some(url.join(&format!("r/{room}")).ok()?.to_string())
}

/// This machine's address on its network (a private IPv4 first), for links others open.
pub fn lan_address() -> Option<IpAddr> {
    let addrs: Vec<IpAddr> = if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .collect();
    let private = |ip: &IpAddr| matches!(ip, IpAddr::V4(v4) if v4.is_private());
    addrs.iter().find(|ip| private(ip)).or_else(|| addrs.iter().find(|ip| ip.is_ipv4())).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn links_and_flags() {
        let join = |code: &str, link| Some(Open::Join { code: code.into(), link });
        let call = |code: &str, link| Some(Open::Call { code: code.into(), link });
        assert_eq!(from_args(&args(&["tincan://join/7kq2-m9xd-4htb/"])), join("7KQ2-M9XD-4HTB", true));
        assert_eq!(
            from_args(&args(&["/usr/bin/tincan", "tincan://call/7kq2%20m9xd%204htb%20pa3e"])),
            call("7KQ2-M9XD-4HTB-PA3E", true)
        );
        assert_eq!(from_args(&args(&["--join", "7KQ2 M9XD 4HTB"])), join("7KQ2-M9XD-4HTB", false));
        assert_eq!(from_args(&args(&["--call", "7KQ2M9XD4HTBPA3E"])), call("7KQ2-M9XD-4HTB-PA3E", false));
        // What the UI reads.
        let json = serde_json::to_value(join("7KQ2-M9XD-4HTB", true)).unwrap();
        assert_eq!(json, serde_json::json!({"screen": "join", "code": "7KQ2-M9XD-4HTB", "link": true}));
        assert_eq!(from_args(&args(&["--join", "nope"])), None);
        assert_eq!(from_args(&args(&["tincan://call/7KQ2-M9XD-4HTB"])), None); // a room code is no personal code
        assert_eq!(from_args(&args(&["tincan://delete/7KQ2-M9XD-4HTB"])), None);
        assert_eq!(from_args(&args(&["--join"])), None);
        assert_eq!(from_args(&[]), None);
    }

    #[test]
    fn the_guest_link_is_the_servers_guest_page_for_the_room() {
        let room = RoomCode::parse("7KQ2-M9XD-4HTB").unwrap();
        let lan: Option<IpAddr> = Some("192.168.1.20".parse().unwrap());
        assert_eq!(
            guest_link("wss://chat.example.org/ws", &room, None).as_deref(),
            Some("https://chat.example.org/r/7KQ2-M9XD-4HTB")
        );
        // Behind a proxy's path; the query (a token) is not for guests.
        assert_eq!(
            guest_link("wss://example.org/tincan/ws?t=1", &room, None).as_deref(),
            Some("https://example.org/tincan/r/7KQ2-M9XD-4HTB")
        );
        // The app's own server: others reach it on the LAN, and only there.
        assert_eq!(
            guest_link("ws://127.0.0.1:7878/ws", &room, lan).as_deref(),
            Some("http://192.168.1.20:7878/r/7KQ2-M9XD-4HTB")
        );
        assert_eq!(guest_link("ws://127.0.0.1:7878/ws", &room, None), None);
        assert_eq!(
            guest_link("ws://10.0.0.5:7878/ws", &room, lan).as_deref(),
            Some("http://10.0.0.5:7878/r/7KQ2-M9XD-4HTB")
        );
        assert_eq!(guest_link("not a url", &room, lan), None);
        assert_eq!(
            guest_link("wss://me:secret@chat.example.org/ws", &room, None).as_deref(),
            Some("https://chat.example.org/r/7KQ2-M9XD-4HTB")
        );
    }
}
