//! An X server of the test's own (Xvfb), on a display number nobody uses.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        let free = |n: &u32| {
            !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
        };
        let n = (150..250).find(free).ok_or_else(|| RigError::Setup("no free X display number".into()))?;
        let display = format!(":{n}");
        let server = Guard::spawn(
            "Xvfb",
            Command::new("Xvfb")
                .args([display.as_str(), "-screen", "0", &format!("{width}x{height}x24"), "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        let started = Instant::now();
        while !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(RigError::NotReady { program: "Xvfb", seconds: 10, log: String::new() });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Xvfb { display, _server: server })
    }
}
