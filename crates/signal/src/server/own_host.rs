//! Which names are this server's own when its operator has named none (`--public-host`): a registration
//! signed for another name is refused, or a server the client connected to could pass the client's
//! registration on to this one under its own name (it chooses the `Host` header of its request). The names
//! a server knows without being told are those of the machine: its interface addresses (what LAN peers of
//! the app's embedded server use), `localhost`, its host name and that name in `.local` (mDNS).

/// Whether `host` (as [`crate::identity::server_host`] gives it) names this machine.
pub fn names_this_machine(host: &str) -> bool {
    if host.is_empty() {
        return false;
    }
    if host == "localhost" {
        return true;
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback()
            || if_addrs::get_if_addrs().is_ok_and(|interfaces| interfaces.iter().any(|i| i.ip() == ip));
    }
    let Some(name) = machine_name() else { return false };
    host == name || host.strip_suffix(".local") == Some(name.as_str())
}

/// The host name, lower case (`gethostname`).
fn machine_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_knows_its_own_names_and_no_others() {
        assert!(names_this_machine("localhost"));
        assert!(names_this_machine("127.0.0.1"));
        assert!(names_this_machine("::1"));
        let name = machine_name().expect("a host name");
        assert!(names_this_machine(&name));
        assert!(names_this_machine(&format!("{name}.local")));
        if let Some(lan) = if_addrs::get_if_addrs().unwrap().into_iter().find(|i| !i.is_loopback()) {
            assert!(names_this_machine(&lan.ip().to_string()));
        }
        // A name or address chosen by someone else's server.
        assert!(!names_this_machine("evil.example"));
        assert!(!names_this_machine("203.0.113.9"));
        assert!(!names_this_machine(""));
        assert!(!names_this_machine(&format!("{name}.evil.example")));
    }
}
