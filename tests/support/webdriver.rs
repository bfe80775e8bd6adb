//! A small W3C WebDriver client for the app's webview (tauri-driver in front of WebKitWebDriver).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::process::Guard;

pub struct Driver {
    base: String,
    http: ureq::Agent,
    _driver: Guard,
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
    /// Start tauri-driver; `env` reaches the app it launches.
    pub fn start(display: &str, env: &[(&str, String)]) -> anyhow::Result<Driver> {
        let (port, native) = (free_port()?, free_port()?);
        let mut command = Command::new(tauri_driver()?);
        command
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .env("DISPLAY", display)
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let driver = Guard::spawn(&mut command)?;
        let base = format!("http://127.0.0.1:{port}");
        let http = agent();
        let started = Instant::now();
        while http.get(&format!("{base}/status")).call().is_err() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(20), "tauri-driver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Driver { base, http, _driver: driver })
    }

    pub fn session(&self, app: &Path, args: &[&str]) -> anyhow::Result<Session> {
        let caps = json!({"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {
            "binary": app, "args": args
        }}}});
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
            .map_err(|e| anyhow::anyhow!("script failed: {e}"))?
            .into_json()?;
        Ok(reply["value"].clone())
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

    pub fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let reply: Value = self.http.get(&format!("{}/screenshot", self.url)).call()?.into_json()?;
        let png = base64::engine::general_purpose::STANDARD.decode(reply["value"].as_str().unwrap_or_default())?;
        std::fs::write(path, png)?;
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Ending the session closes the app; if it does not answer soon, the driver guard kills it all.
        let _ = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build().delete(&self.url).call();
    }
}
