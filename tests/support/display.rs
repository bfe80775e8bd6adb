//! A real X display: the one the session has, or an Xvfb started for the test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::Guard;

pub struct Display {
    pub name: String,
    // Dropped in this order: the window manager before its X server.
    _window_manager: Option<Guard>,
    _xvfb: Option<Guard>,
}

impl Display {
    pub fn start() -> anyhow::Result<Display> {
        Display::start_sized("1280x800")
    }

    /// A display `size` (`WIDTHxHEIGHT`) large.
    fn start_sized(size: &str) -> anyhow::Result<Display> {
        if let Ok(name) = std::env::var("TINCAN_E2E_DISPLAY") {
            return Ok(Display { name, _xvfb: None, _window_manager: None });
        }
        // A display number nobody uses.
        let n = (90..140).find(|n| !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()).unwrap_or(99);
        let name = format!(":{n}");
        let xvfb = Guard::spawn(
            Command::new("Xvfb")
                .args([name.as_str(), "-screen", "0", &format!("{size}x24"), "-nolisten", "tcp"])
                .stderr(Stdio::null()),
        )?;
        let started = Instant::now();
        while !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "Xvfb did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Display { name, _xvfb: Some(xvfb), _window_manager: None })
    }

    /// A display with a window manager (openbox, which does EWMH full screen): for what only a window
    /// manager does — a bare X server leaves a "full screen" window at its size.
    pub fn with_window_manager() -> anyhow::Result<Display> {
        // Larger than the biggest window the tests ask for, with room for the title bar around it.
        let mut display = Display::start_sized("1440x900")?;
        if display._xvfb.is_none() {
            return Ok(display); // the session's own display has its own
        }
        let wm = Guard::spawn(
            Command::new("openbox").args(["--sm-disable"]).env("DISPLAY", &display.name).stderr(Stdio::null()),
        )?;
        let started = Instant::now();
        loop {
            let check = Command::new("xprop")
                .args(["-display", &display.name, "-root", "_NET_SUPPORTING_WM_CHECK"])
                .stderr(Stdio::null())
                .output()?;
            if String::from_utf8_lossy(&check.stdout).contains("window id") {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "openbox did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        display._window_manager = Some(wm);
        Ok(display)
    }

    /// How many windows titled `Tincan` are on screen (mapped).
    pub fn visible_app_windows(&self) -> usize {
        Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", "^Tincan$"])
            .env("DISPLAY", &self.name)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0)
    }

    /// Closes the app's window as a user would: Alt+F4 to the focused window, through the window manager.
    /// A key sent while the window is still being mapped or focused can be lost, so the window is waited
    /// for, and looked for again and the key sent again until no app window is on screen, within `within`.
    pub fn close_app_window(&self, within: Duration) -> anyhow::Result<()> {
        let xdotool = |args: &[&str]| Command::new("xdotool").args(args).env("DISPLAY", &self.name).output();
        let deadline = std::time::Instant::now() + within;
        let mut tries = 0;
        loop {
            let found = xdotool(&["search", "--onlyvisible", "--name", "^Tincan$"])?;
            let Some(window) = String::from_utf8_lossy(&found.stdout).lines().next().map(str::to_owned) else {
                if tries > 0 {
                    return Ok(());
                }
                // Not mapped yet (it was just asked to show).
                anyhow::ensure!(std::time::Instant::now() < deadline, "no app window on screen to close");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the app window {window} still on screen after {tries} Alt+F4 within {within:?}"
            );
            tries += 1;
            xdotool(&["windowactivate", "--sync", &window])?;
            xdotool(&["key", "--clearmodifiers", "alt+F4"])?;
            let sent = std::time::Instant::now();
            while self.visible_app_windows() > 0 && sent.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
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
