//! The address book: names for personal codes.

use serde::{Deserialize, Serialize};
use tincan_signal::code::PersonalCode;

use super::settings::MAX_NAME_CHARS;
use crate::error::{AppError, Result};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    pub name: String,
    /// Canonical personal code (`XXXX-XXXX-XXXX-XXXX`).
    pub code: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactBook {
    pub contacts: Vec<Contact>,
}

impl ContactBook {
    /// Add a contact, or (with `id`) change one. `own_code` is refused: you cannot call yourself.
    pub fn upsert(&mut self, id: Option<&str>, name: &str, code: &str, own_code: &str) -> Result<Contact> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::Invalid("Give the contact a name.".into()));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(AppError::Invalid(format!("A name can have at most {MAX_NAME_CHARS} characters.")));
        }
        let code = PersonalCode::parse(code)
            .map_err(|e| AppError::Invalid(format!("That personal code does not work: {e}.")))?
            .to_string();
        if code == own_code {
            return Err(AppError::Invalid("That is your own code.".into()));
        }
        if let Some(other) = self.contacts.iter().find(|c| c.code == code && Some(c.id.as_str()) != id) {
            return Err(AppError::Invalid(format!("{} already has that code.", other.name)));
        }
        match id {
            Some(id) => {
                let c = self
                    .contacts
                    .iter_mut()
                    .find(|c| c.id == id)
                    .ok_or_else(|| AppError::Invalid("That contact no longer exists.".into()))?;
                c.name = name.to_owned();
                c.code = code;
                Ok(c.clone())
            }
            None => {
                let c = Contact { id: format!("{:016x}", rand::random::<u64>()), name: name.to_owned(), code };
                self.contacts.push(c.clone());
                self.contacts.sort_by_key(|c| c.name.to_lowercase());
                Ok(c)
            }
        }
    }

    pub fn remove(&mut self, id: &str) -> Result<()> {
        let before = self.contacts.len();
        self.contacts.retain(|c| c.id != id);
        if self.contacts.len() == before {
            return Err(AppError::Invalid("That contact no longer exists.".into()));
        }
        Ok(())
    }

    /// The name we know a code by.
    pub fn name_of(&self, code: &str) -> Option<&str> {
        self.contacts.iter().find(|c| c.code == code).map(|c| c.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "AAAA-BBBB-CCCC-DDDD";
    const BOB: &str = "7KQ2-M9XD-4HTB-PA3E";

    #[test]
    fn add_edit_delete() {
        let mut book = ContactBook::default();
        let bob = book.upsert(None, " Bob ", "7kq2 m9xd 4htb pa3e", OWN).unwrap();
        assert_eq!((bob.name.as_str(), bob.code.as_str()), ("Bob", BOB));
        assert_eq!(book.name_of(BOB), Some("Bob"));
        let renamed = book.upsert(Some(&bob.id), "Robert", BOB, OWN).unwrap();
        assert_eq!(renamed.id, bob.id);
        assert_eq!(book.contacts.len(), 1);
        book.remove(&bob.id).unwrap();
        assert!(book.contacts.is_empty());
        assert!(book.remove(&bob.id).is_err());
    }

    #[test]
    fn bad_contacts_are_refused_with_a_reason() {
        let mut book = ContactBook::default();
        let err =
            |b: &mut ContactBook, name: &str, code: &str| b.upsert(None, name, code, OWN).unwrap_err().to_string();
        assert!(err(&mut book, "", BOB).contains("name"));
        assert!(err(&mut book, "Bob", "12").contains("does not work"));
        assert!(err(&mut book, "Me", OWN).contains("your own"));
        book.upsert(None, "Bob", BOB, OWN).unwrap();
        assert!(err(&mut book, "Bobby", BOB).contains("Bob already"));
    }
}
