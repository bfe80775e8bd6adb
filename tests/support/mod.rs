//! What end-to-end scenarios need: the built binaries, a display, WebDriver for the app and for Chromium,
//! media fixtures, a private network namespace, processes that are stopped when the test ends.

pub mod app;
pub mod audio;
pub mod dbus;
pub mod display;
pub mod fixtures;
pub mod load;
pub mod netns;
pub mod notifications;
pub mod process;
pub mod procfs;
pub mod screencast;
pub mod webdriver;

use std::path::PathBuf;

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A built binary of the workspace (`TINCAN_PROFILE=release` for release builds; debug by default); fails
/// with what to do if it is missing.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let profile = std::env::var("TINCAN_PROFILE").unwrap_or_else(|_| "debug".into());
    let path = target_dir().join(profile).join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --workspace --bins)",
        path.display()
    );
    Ok(path)
}

/// A fresh directory for one scenario (HOME, XDG dirs, downloads, logs); scenarios remove it when they pass.
pub fn scratch(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tincan-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["home", "config", "data", "cache", "runtime", "downloads"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("runtime"), std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// Where screenshots go.
pub fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Every file under `dir` (none if it does not exist).
pub fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}
