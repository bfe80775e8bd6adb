use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// A child process in a process group of its own, killed with everything it started when dropped (a
/// failing test leaves nothing running: tauri-driver starts WebKitWebDriver, which starts the app).
pub struct Guard(pub Child);

impl Guard {
    pub fn spawn(command: &mut Command) -> anyhow::Result<Guard> {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command.process_group(0).spawn().map_err(|e| anyhow::anyhow!("cannot start {program}: {e}"))?;
        Ok(Guard(child))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: signalling the process group this guard created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}
