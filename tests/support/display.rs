//! A real X display: the one the session has, or an Xvfb started for the test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::Guard;

pub struct Display {
    pub name: String,
    _xvfb: Option<Guard>,
}

impl Display {
    pub fn start() -> anyhow::Result<Display> {
        if let Ok(name) = std::env::var("TINCAN_E2E_DISPLAY") {
            return Ok(Display { name, _xvfb: None });
        }
        // A display number nobody uses.
        let n = (90..140).find(|n| !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()).unwrap_or(99);
        let name = format!(":{n}");
        let xvfb = Guard::spawn(
            Command::new("Xvfb")
                .args([name.as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stderr(Stdio::null()),
        )?;
        let started = Instant::now();
        while !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "Xvfb did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Display { name, _xvfb: Some(xvfb) })
    }

    /// The whole screen as a PNG, as a user would see it (ImageMagick's `import`). WebDriver's own
    /// screenshot can hang for tens of seconds on a window that was hidden and shown again.
    pub fn screenshot(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let status = Command::new("import")
            .args(["-display", &self.name, "-window", "root"])
            .arg(path)
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "import could not take a screenshot of {}", self.name);
        Ok(())
    }
}
