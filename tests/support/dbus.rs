//! A private D-Bus session bus for a scenario (the single-instance plugin finds the running app on it).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::process::Guard;

pub struct SessionBus {
    /// For `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    _daemon: Guard,
}

impl SessionBus {
    pub fn start() -> anyhow::Result<SessionBus> {
        let mut daemon = Guard::spawn(
            Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--print-address=1"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        )?;
        let stdout = daemon.0.stdout.take().ok_or_else(|| anyhow::anyhow!("dbus-daemon: no stdout"))?;
        let mut address = String::new();
        BufReader::new(stdout).read_line(&mut address)?;
        let address = address.trim().to_owned();
        anyhow::ensure!(!address.is_empty(), "dbus-daemon printed no address");
        Ok(SessionBus { address, _daemon: daemon })
    }
}
