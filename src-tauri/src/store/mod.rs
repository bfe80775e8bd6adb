//! What the app keeps on disk: settings (config dir), contacts, recent calls and the identity key (data
//! dir). Every write is atomic; a damaged file is set aside and reported, never lost (see [`file`]).

pub mod contacts;
pub mod file;
pub mod recents;
pub mod settings;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tincan_signal::identity::Identity;

use contacts::ContactBook;
use file::{Loaded, load_json, save_json, set_aside, write_atomic};
use recents::{RecentCall, Recents};
use settings::Settings;

use crate::error::Result;

pub struct Store {
    settings_path: PathBuf,
    contacts_path: PathBuf,
    recents_path: PathBuf,
    pub identity: Identity,
    settings: Mutex<Settings>,
    contacts: Mutex<ContactBook>,
    recents: Mutex<Recents>,
    /// Sentences for the user about files that were damaged at start.
    pub notices: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    pub fn open(config_dir: &Path, data_dir: &Path) -> Store {
        let mut notices = Vec::new();
        let settings_path = config_dir.join("settings.json");
        let contacts_path = data_dir.join("contacts.json");
        let recents_path = data_dir.join("recents.json");
        let settings: Settings = take(load_json(&settings_path, "settings"), &mut notices);
        let contacts: ContactBook = take(load_json(&contacts_path, "contacts"), &mut notices);
        let recents: Recents = take(load_json(&recents_path, "recent calls"), &mut notices);
        let identity = load_identity(&data_dir.join("identity.key"), &mut notices);
        Store {
            settings_path,
            contacts_path,
            recents_path,
            identity,
            settings: Mutex::new(settings),
            contacts: Mutex::new(contacts),
            recents: Mutex::new(recents),
            notices,
        }
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn set_settings(&self, new: Settings) -> Result<Settings> {
        let new = new.validate()?;
        save_json(&self.settings_path, &new)?;
        *lock(&self.settings) = new.clone();
        Ok(new)
    }

    pub fn contacts(&self) -> ContactBook {
        lock(&self.contacts).clone()
    }

    /// Change the contacts with `f`; saved only if `f` succeeds, kept in memory only if the save does.
    pub fn edit_contacts<T>(&self, f: impl FnOnce(&mut ContactBook) -> Result<T>) -> Result<T> {
        let mut book = lock(&self.contacts);
        let mut draft = book.clone();
        let out = f(&mut draft)?;
        save_json(&self.contacts_path, &draft)?;
        *book = draft;
        Ok(out)
    }

    pub fn recents(&self) -> Recents {
        lock(&self.recents).clone()
    }

    pub fn add_recent(&self, call: RecentCall) -> Result<()> {
        let mut recents = lock(&self.recents);
        recents.push(call);
        save_json(&self.recents_path, &*recents)
    }
}

fn take<T>(loaded: Loaded<T>, notices: &mut Vec<String>) -> T {
    notices.extend(loaded.notice);
    loaded.value
}

/// The identity key, made on first start. A damaged key is set aside (a new code is made, and the user
/// told: contacts will need the new code).
fn load_identity(path: &Path, notices: &mut Vec<String>) -> Identity {
    match std::fs::read_to_string(path) {
        Ok(text) => match Identity::from_hex(&text) {
            Ok(id) => return id,
            Err(e) => {
                let kept = set_aside(path).map(|p| p.display().to_string()).unwrap_or_else(|e| e.to_string());
                notices.push(format!(
                    "Your identity key was damaged ({e}); it was kept as {kept}. You have a new personal code: \
                     give it to your contacts."
                ));
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => notices.push(format!("Your identity key could not be read ({e}); a new one is used.")),
    }
    let identity = Identity::generate();
    if let Err(e) = write_atomic(path, identity.to_hex().as_bytes(), true) {
        notices.push(format!("Your identity could not be saved ({e}); your code will change next start."));
    }
    identity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_survives_a_restart_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (config, data) = (dir.path().join("config"), dir.path().join("data"));
        let store = Store::open(&config, &data);
        assert!(store.notices.is_empty(), "{:?}", store.notices);
        let code = store.identity.personal_code().to_string();
        store.set_settings(Settings { display_name: "Ana".into(), ..Default::default() }).unwrap();
        store.edit_contacts(|b| b.upsert(None, "Bob", "7KQ2-M9XD-4HTB-PA3E", &code)).unwrap();
        // A failed edit changes nothing.
        assert!(store.edit_contacts(|b| b.upsert(None, "", "7KQ2-M9XD-4HTB-PA3E", &code)).is_err());
        drop(store);

        let again = Store::open(&config, &data);
        assert_eq!(again.identity.personal_code().to_string(), code);
        assert_eq!(again.settings().display_name, "Ana");
        assert_eq!(again.contacts().contacts.len(), 1);

        std::fs::write(config.join("settings.json"), "{oops").unwrap();
        std::fs::write(data.join("identity.key"), "not a key").unwrap();
        let damaged = Store::open(&config, &data);
        assert_eq!(damaged.notices.len(), 2, "{:?}", damaged.notices);
        assert_eq!(damaged.settings(), Settings::default());
        assert_ne!(damaged.identity.personal_code().to_string(), code);
        assert_eq!(damaged.contacts().contacts.len(), 1);
        let set_aside = std::fs::read_dir(&config)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("settings.json.corrupt-"));
        assert_eq!(set_aside.count(), 1);
    }
}
