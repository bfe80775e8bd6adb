//! The embedded default on a LAN: announce this app's signaling server over mDNS (`_tincan._tcp.local.`)
//! and follow the [`election`] among the servers announced there, so apps with no server configured end up
//! on the same one and can ring each other.

pub mod election;

use election::{Candidate, Election};
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::watch;

const SERVICE: &str = "_tincan._tcp.local.";

/// Keeps the announcement up; dropping it withdraws it.
pub struct LanPresence {
    daemon: ServiceDaemon,
}

impl Drop for LanPresence {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

/// Where to announce and look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every interface: the real thing.
    Lan,
    /// 127.0.0.1 only (tests: their multicast never leaves the machine).
    Loopback,
}

/// Announce the server on `port` and publish the chosen server's URL on `chosen` as the LAN changes.
/// `own_url` is how this app reaches its own server.
pub fn start(
    port: u16,
    own_url: String,
    chosen: watch::Sender<String>,
    scope: Scope,
) -> Result<LanPresence, mdns_sd::Error> {
    let id = format!("{:016x}", rand::random::<u64>());
    let daemon = ServiceDaemon::new()?;
    if scope == Scope::Loopback {
        daemon.disable_interface(IfKind::All)?;
        daemon.enable_interface(IfKind::LoopbackV4)?;
    }
    let instance = format!("tincan-{id}");
    let properties = [("id", id.as_str()), ("v", &tincan_signal::protocol::PROTOCOL_VERSION.to_string())];
    let host = format!("{instance}.local.");
    let info = match scope {
        Scope::Lan => ServiceInfo::new(SERVICE, &instance, &host, "", port, &properties[..])?.enable_addr_auto(),
        Scope::Loopback => ServiceInfo::new(SERVICE, &instance, &host, "127.0.0.1", port, &properties[..])?,
    };
    daemon.register(info)?;
    let events = daemon.browse(SERVICE)?;
    let mut election = Election::new(Some(Candidate { id, url: own_url }));
    std::thread::Builder::new()
        .name("tincan-mdns".into())
        .spawn(move || {
            while let Ok(event) = events.recv() {
                let change = match event {
                    ServiceEvent::ServiceResolved(s) => {
                        let (Some(id), Some(addr)) =
                            (s.get_property_val_str("id"), s.get_addresses_v4().into_iter().min())
                        else {
                            continue;
                        };
                        let url = format!("ws://{addr}:{}/ws", s.port);
                        election.found(&s.fullname, Candidate { id: id.to_owned(), url })
                    }
                    ServiceEvent::ServiceRemoved(_, name) => election.removed(&name),
                    ServiceEvent::SearchStopped(_) => break,
                    _ => None,
                };
                if let Some(url) = change {
                    tracing::info!(%url, "signaling server chosen on the LAN");
                    if chosen.send(url).is_err() {
                        break;
                    }
                }
            }
        })
        .map_err(|e| mdns_sd::Error::Msg(e.to_string()))?;
    Ok(LanPresence { daemon })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn wait_for(rx: &watch::Receiver<String>, want: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if *rx.borrow() == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Two apps on one (loopback) network agree on one server over real mDNS, and fall back to their own
    /// when it leaves.
    #[test]
    fn two_apps_find_each_other_and_agree() {
        let (a_url, b_url) = ("ws://127.0.0.1:10001/ws".to_owned(), "ws://127.0.0.1:10002/ws".to_owned());
        let (a_tx, a_rx) = watch::channel(a_url.clone());
        let (b_tx, b_rx) = watch::channel(b_url.clone());
        let a = start(10001, a_url.clone(), a_tx, Scope::Loopback).unwrap();
        let b = start(10002, b_url.clone(), b_tx, Scope::Loopback).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while *a_rx.borrow() != *b_rx.borrow() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let agreed = a_rx.borrow().clone();
        assert_eq!(agreed, *b_rx.borrow(), "both apps should use the same server");
        // The winner leaves; the other goes back to its own server.
        let (gone, stays, stays_rx, own) = if agreed == a_url { (a, b, &b_rx, &b_url) } else { (b, a, &a_rx, &a_url) };
        drop(gone);
        assert!(wait_for(stays_rx, own), "after the chosen server left: {}", *stays_rx.borrow());
        drop(stays);
    }
}
