//! A small W3C WebDriver client: for the app's webview (tauri-driver in front of WebKitWebDriver) and for
//! Chromium (chromedriver), the browser peer of the interop tests.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::process::Guard;

pub struct Driver {
    base: String,
    http: ureq::Agent,
    driver: Guard,
}

pub struct Session {
    url: String,
    http: ureq::Agent,
}

/// Every WebDriver request has a deadline: a stuck browser fails the test instead of hanging it.
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Driver {
    /// Start tauri-driver; `env` reaches the app it launches, whose output (and the driver's) goes to `log`.
    pub fn start(display: &str, env: &[(&str, String)], log: &Path) -> anyhow::Result<Driver> {
        let (port, native) = (free_port()?, free_port()?);
        let mut command = Command::new(tauri_driver()?);
        command
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .env("DISPLAY", display)
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .stdout(std::fs::File::create(log)?)
            .stderr(std::fs::File::create(log.with_extension("err.log"))?);
        for (k, v) in env {
            command.env(k, v);
        }
        Driver::wait_ready(Guard::spawn(&mut command)?, port, "tauri-driver")
    }

    /// Start chromedriver (Debian's `chromium-driver`); its log goes to `log`.
    pub fn chromium(log: &Path) -> anyhow::Result<Driver> {
        Driver::chromium_with_env(log, &[])
    }

    /// Chromium on an X display (not headless: what it shares with `getDisplayMedia` is that screen).
    pub fn chromium_on(display: &str, log: &Path) -> anyhow::Result<Driver> {
        Driver::chromium_with_env(log, &[("DISPLAY", display)])
    }

    fn chromium_with_env(log: &Path, env: &[(&str, &str)]) -> anyhow::Result<Driver> {
        let port = free_port()?;
        let mut command = Command::new("chromedriver");
        command.envs(env.iter().copied());
        command
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        Driver::wait_ready(Guard::spawn(&mut command)?, port, "chromedriver")
    }

    fn wait_ready(driver: Guard, port: u16, what: &str) -> anyhow::Result<Driver> {
        let base = format!("http://127.0.0.1:{port}");
        let http = agent();
        let started = Instant::now();
        while http.get(&format!("{base}/status")).call().is_err() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(20), "{what} did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Driver { base, http, driver })
    }

    pub fn session(&self, app: &Path, args: &[&str]) -> anyhow::Result<Session> {
        self.new_session(json!({"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {
            "binary": app, "args": args
        }}}}))
    }

    /// A headless Chromium with fake media devices; `args` are added to the usual flags.
    /// A Chromium session whose fake camera plays `camera` (Y4M) and fake microphone `microphone` (WAV).
    pub fn chromium_with_media(&self, user_data: &Path, camera: &Path, microphone: &Path) -> anyhow::Result<Session> {
        self.chromium_session(
            user_data,
            &[
                format!("--use-file-for-fake-video-capture={}", camera.display()),
                format!("--use-file-for-fake-audio-capture={}", microphone.display()),
            ],
        )
    }

    pub fn chromium_session(&self, user_data: &Path, args: &[String]) -> anyhow::Result<Session> {
        let mut all = vec![
            "--headless=new".to_owned(),
            "--use-fake-device-for-media-stream".to_owned(),
            "--use-fake-ui-for-media-stream".to_owned(),
        ];
        all.extend(args.iter().cloned());
        self.chromium_flags(user_data, &all)
    }

    /// A Chromium window on the driver's display (see [`Driver::chromium_on`]) with no camera or microphone
    /// (fake devices would make `getDisplayMedia` fake too); `getDisplayMedia` takes the entire screen
    /// without asking. Not with `--use-fake-ui-for-media-stream`: that one makes `getDisplayMedia` a fake
    /// capture too (a test card, whatever the screen shows).
    pub fn chromium_headed(&self, user_data: &Path) -> anyhow::Result<Session> {
        self.chromium_flags(
            user_data,
            &[
                "--auto-accept-camera-and-microphone-capture".into(),
                "--auto-select-desktop-capture-source=Entire screen".into(),
                "--ozone-platform=x11".into(),
                "--disable-features=WebRtcPipeWireCapturer".into(),
                // Out of the way of what the benchmarks compare (they leave this corner out).
                "--window-position=1520,780".into(),
                "--window-size=400,300".into(),
            ],
        )
    }

    fn chromium_flags(&self, user_data: &Path, args: &[String]) -> anyhow::Result<Session> {
        let mut flags: Vec<String> = [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ]
        .map(String::from)
        .to_vec();
        flags.push(format!("--user-data-dir={}", user_data.display()));
        flags.extend(args.iter().cloned());
        self.new_session(json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": flags}
        }}}))
    }

    /// The driver's process id (the browsers it starts are its descendants).
    pub fn pid(&self) -> u32 {
        self.driver.0.id()
    }

    fn new_session(&self, caps: Value) -> anyhow::Result<Session> {
        let reply: Value = self
            .http
            .post(&format!("{}/session", self.base))
            .send_json(caps)
            .map_err(|e| anyhow::anyhow!("new session: {e}"))?
            .into_json()?;
        let id = reply["value"]["sessionId"].as_str().ok_or_else(|| anyhow::anyhow!("no session id: {reply}"))?;
        Ok(Session { url: format!("{}/session/{id}", self.base), http: self.http.clone() })
    }
}

fn tauri_driver() -> anyhow::Result<std::path::PathBuf> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let candidates = [home.join(".cargo/bin/tauri-driver"), "/usr/local/bin/tauri-driver".into()];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("tauri-driver is not installed (scripts/setup.sh installs it)"))
}

impl Session {
    /// Run `script` (a function body; `arguments` are `args`) in the page and return its value.
    pub fn run(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        let reply: Value = self
            .http
            .post(&format!("{}/execute/sync", self.url))
            .send_json(json!({"script": script, "args": args}))
            .map_err(|e| match e {
                ureq::Error::Status(code, reply) => {
                    let body = reply.into_string().unwrap_or_default();
                    anyhow::anyhow!(
                        "script failed ({code}): {} — in: {}",
                        body.chars().take(400).collect::<String>(),
                        script.chars().take(120).collect::<String>()
                    )
                }
                other => anyhow::anyhow!("script failed: {other}"),
            })?
            .into_json()?;
        Ok(reply["value"].clone())
    }

    /// Click the element `css` selects as a user would (WebDriver's element click: a trusted event, which
    /// `getDisplayMedia` wants).
    pub fn click(&self, css: &str) -> anyhow::Result<()> {
        let found: Value = self
            .http
            .post(&format!("{}/element", self.url))
            .send_json(json!({"using": "css selector", "value": css}))
            .map_err(|e| anyhow::anyhow!("find {css}: {e}"))?
            .into_json()?;
        let id = found["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("no element {css}"))?
            .to_owned();
        self.http
            .post(&format!("{}/element/{id}/click", self.url))
            .send_json(json!({}))
            .map_err(|e| anyhow::anyhow!("click {css}: {e}"))?;
        Ok(())
    }

    /// Open `url` in the browser.
    pub fn navigate(&self, url: &str) -> anyhow::Result<()> {
        self.http
            .post(&format!("{}/url", self.url))
            .send_json(json!({ "url": url }))
            .map_err(|e| anyhow::anyhow!("navigate to {url}: {e}"))?;
        Ok(())
    }

    /// The page as a PNG (WebDriver's screenshot: fine for a browser; the app's window is taken from the X
    /// screen instead, see `tests/README.md`).
    pub fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        use base64::Engine as _;
        let reply: Value = self
            .http
            .get(&format!("{}/screenshot", self.url))
            .call()
            .map_err(|e| anyhow::anyhow!("screenshot: {e}"))?
            .into_json()?;
        let png = base64::engine::general_purpose::STANDARD.decode(reply["value"].as_str().unwrap_or_default())?;
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Resize the app's window (WebDriver "set window rect").
    /// Chromium only: the page sees `prefers-color-scheme: dark` (or light), as with the system's setting.
    pub fn prefer_color_scheme(&self, scheme: &str) -> anyhow::Result<()> {
        let features = json!([{"name": "prefers-color-scheme", "value": scheme}]);
        self.http
            .post(&format!("{}/goog/cdp/execute", self.url))
            .send_json(json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": features}}))
            .map_err(|e| anyhow::anyhow!("prefers-color-scheme: {e}"))?;
        Ok(())
    }

    pub fn set_window_size(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.http
            .post(&format!("{}/window/rect", self.url))
            .send_json(json!({"width": width, "height": height}))
            .map_err(|e| anyhow::anyhow!("set window rect: {e}"))?;
        Ok(())
    }

    /// Poll `script` until it returns something truthy; that value, or an error naming `what`.
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let v = self.run(script, json!([]))?;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return Ok(v);
            }
            anyhow::ensure!(started.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Ending the session closes the app; if it does not answer soon, the driver guard kills it all.
        let _ = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build().delete(&self.url).call();
    }
}
