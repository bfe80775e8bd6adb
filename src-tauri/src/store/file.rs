//! JSON files that survive crashes and damage: writes go to a temporary file in the same directory, are
//! flushed to disk and renamed over the old file (atomic on POSIX), so a reader sees the old or the new
//! content, never half of one. A file that cannot be read back is renamed aside (`NAME.corrupt-SECONDS`),
//! never deleted, and the caller gets the defaults plus a sentence for the user.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// What loading found.
pub struct Loaded<T> {
    pub value: T,
    /// Set when the file was damaged and has been set aside: what to tell the user.
    pub notice: Option<String>,
}

/// Read `path` as JSON; a missing file gives the defaults, a damaged one is set aside.
pub fn load_json<T: DeserializeOwned + Default>(path: &Path, what: &str) -> Loaded<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded { value: T::default(), notice: None },
        Err(e) => {
            return Loaded {
                value: T::default(),
                notice: Some(format!("Your {what} could not be read ({e}); using defaults.")),
            };
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(value) => Loaded { value, notice: None },
        Err(e) => {
            let notice = match set_aside(path) {
                Ok(aside) => format!(
                    "Your {what} file was damaged ({e}). It was kept as {} and defaults are used.",
                    aside.display()
                ),
                Err(move_err) => format!("Your {what} file was damaged ({e}) and could not be moved ({move_err})."),
            };
            tracing::warn!("{notice}");
            Loaded { value: T::default(), notice: Some(notice) }
        }
    }
}

/// Move a damaged file out of the way, keeping it for the user.
pub fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{secs}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

/// Write `value` as pretty JSON, atomically.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), AppError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| AppError::Store(e.to_string()))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes, false)
}

/// Replace `path` with `bytes`: temp file, fsync, rename, fsync the directory. `private` makes the file
/// readable by its owner only (from the start, so the secret is never briefly world-readable).
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), AppError> {
    let io = |e: std::io::Error| AppError::Io { path: path.to_owned(), source: e };
    let dir = path.parent().ok_or_else(|| AppError::Store(format!("{} has no directory", path.display())))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Default, PartialEq, Debug)]
    struct Thing {
        name: String,
        n: u32,
    }

    #[test]
    fn round_trip_missing_and_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/thing.json");
        let missing: Loaded<Thing> = load_json(&path, "thing");
        assert_eq!(missing.value, Thing::default());
        assert!(missing.notice.is_none());

        save_json(&path, &Thing { name: "a".into(), n: 3 }).unwrap();
        let back: Loaded<Thing> = load_json(&path, "thing");
        assert_eq!(back.value, Thing { name: "a".into(), n: 3 });
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

        std::fs::write(&path, b"{\"name\": \"a\", \"n\": ").unwrap();
        let damaged: Loaded<Thing> = load_json(&path, "thing");
        assert_eq!(damaged.value, Thing::default());
        let notice = damaged.notice.unwrap();
        assert!(notice.contains("damaged") && notice.contains(".corrupt-"), "{notice}");
        // The damaged bytes are kept, the original name is free for the next save.
        let kept: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(std::fs::read(&kept[0]).unwrap(), b"{\"name\": \"a\", \"n\": ");
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_atomic(&path, b"secret", true).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
