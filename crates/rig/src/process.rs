//! A child in its own process group, killed with everything it started when dropped.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use crate::{Result, RigError};

pub struct Guard(pub Child);

impl Guard {
    pub fn spawn(program: &'static str, command: &mut Command) -> Result<Guard> {
        command.process_group(0).spawn().map(Guard).map_err(|source| RigError::Spawn { program, source })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: signalling the process group this guard created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// The path of `program` on `PATH` (or in /usr/sbin, where Debian may put daemons).
pub fn find(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
