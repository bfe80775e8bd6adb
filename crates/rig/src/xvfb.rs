//! An X server of the test's own (Xvfb). Xvfb picks a free display number itself (`-displayfd`): tests that
//! start servers at the same time (each in a network namespace of its own, all sharing /tmp) cannot race for
//! one number.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{Guard, find};
use crate::{Result, RigError};

pub struct Xvfb {
    /// The display's name (`:N`), for `DISPLAY`.
    pub display: String,
    _server: Guard,
}

impl Xvfb {
    /// A `width`×`height` screen at 24 bits.
    pub fn start(width: u32, height: u32) -> Result<Xvfb> {
        if find("Xvfb").is_none() {
            return Err(RigError::Missing { program: "Xvfb", hint: "apt install xvfb (scripts/setup.sh does)" });
        }
        let mut server = Guard::spawn(
            "Xvfb",
            Command::new("Xvfb")
                .args(["-displayfd", "1", "-screen", "0", &format!("{width}x{height}x24"), "-nolisten", "tcp"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        )?;
        // The number comes on stdout once the server accepts connections.
        let stdout = server.0.stdout.take().ok_or_else(|| RigError::Setup("Xvfb's stdout".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| RigError::NotReady {
            program: "Xvfb",
            seconds: 10,
            log: String::new(),
        })?;
        let n: u32 = line.trim().parse().map_err(|_| RigError::Setup(format!("Xvfb said {line:?}, not a display")))?;
        Ok(Xvfb { display: format!(":{n}"), _server: server })
    }
}
