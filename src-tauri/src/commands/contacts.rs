//! The address book and the recent calls.

use serde::Serialize;
use tauri::State;

use crate::error::Result;
use crate::phone::sync_contacts;
use crate::state::AppState;
use crate::store::contacts::Contact;
use crate::store::recents::RecentCall;

/// A contact as the lobby shows it.
#[derive(Serialize)]
pub struct ContactView {
    #[serde(flatten)]
    contact: Contact,
    /// Whether the server says the code is online; absent while unknown (offline ourselves).
    online: Option<bool>,
}

#[tauri::command]
pub fn contacts(state: State<'_, AppState>) -> Vec<ContactView> {
    state
        .store
        .contacts()
        .contacts
        .into_iter()
        .map(|c| ContactView { online: state.phone.contact_online(&c.code), contact: c })
        .collect()
}

/// Add a contact (no `id`) or change one.
#[tauri::command]
pub fn save_contact(state: State<'_, AppState>, id: Option<String>, name: String, code: String) -> Result<Contact> {
    let own = state.store.identity.personal_code().to_string();
    let contact = state.store.edit_contacts(|book| book.upsert(id.as_deref(), &name, &code, &own))?;
    sync_contacts(&state);
    Ok(contact)
}

#[tauri::command]
pub fn delete_contact(state: State<'_, AppState>, id: String) -> Result<()> {
    state.store.edit_contacts(|book| book.remove(&id))?;
    sync_contacts(&state);
    Ok(())
}

#[tauri::command]
pub fn recent_calls(state: State<'_, AppState>) -> Vec<RecentCall> {
    state.store.recents().calls
}
