//! The short authentication string: six digits both people read to each other. It is derived from both
//! DTLS certificate fingerprints (order-independent), so a man in the middle — who must present his own
//! certificate to each side — makes the two screens show different digits.

use sha2::{Digest, Sha256};

/// Canonical form of an SDP fingerprint value: lower case, no spaces.
fn canonical(fingerprint: &str) -> String {
    fingerprint.trim().to_ascii_lowercase()
}

/// Six digits, grouped `123 456`.
pub fn short_authentication_string(local_fingerprint: &str, remote_fingerprint: &str) -> String {
    let (a, b) = (canonical(local_fingerprint), canonical(remote_fingerprint));
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::new_with_prefix(b"tincan sas v1\0")
        .chain_update(first.as_bytes())
        .chain_update(b"\0")
        .chain_update(second.as_bytes())
        .finalize();
    let n = u32::from_be_bytes(digest[..4].try_into().expect("4 bytes")) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

/// The `a=fingerprint:sha-256 …` value of an SDP.
pub fn sdp_fingerprint(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("a=fingerprint:")?;
        let (algorithm, value) = rest.split_once(' ')?;
        algorithm.eq_ignore_ascii_case("sha-256").then(|| canonical(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_on_both_sides_different_for_other_certificates() {
        let a = "AB:CD:01";
        let b = "12:34:EF";
        let ours = short_authentication_string(a, b);
        assert_eq!(ours, short_authentication_string(b, a), "order does not matter");
        assert_eq!(ours, short_authentication_string("ab:cd:01", " 12:34:ef"), "case and spaces do not");
        assert_ne!(ours, short_authentication_string(a, "12:34:EE"), "another certificate, other digits");
        assert_eq!(ours.len(), 7);
    }

    #[test]
    fn reads_the_fingerprint_line() {
        let sdp = "v=0\r\na=group:BUNDLE 0\r\na=fingerprint:sha-256 AA:BB\r\nm=video 9\r\n";
        assert_eq!(sdp_fingerprint(sdp).as_deref(), Some("aa:bb"));
        assert_eq!(sdp_fingerprint("v=0\r\na=fingerprint:sha-1 AA\r\n"), None);
    }
}
