//! The address book and the recent calls.

use tauri::State;

use crate::error::Result;
use crate::state::AppState;
use crate::store::contacts::Contact;
use crate::store::recents::RecentCall;

#[tauri::command]
pub fn contacts(state: State<'_, AppState>) -> Vec<Contact> {
    state.store.contacts().contacts
}

/// Add a contact (no `id`) or change one.
#[tauri::command]
pub fn save_contact(state: State<'_, AppState>, id: Option<String>, name: String, code: String) -> Result<Contact> {
    let own = state.store.identity.personal_code().to_string();
    state.store.edit_contacts(|book| book.upsert(id.as_deref(), &name, &code, &own))
}

#[tauri::command]
pub fn delete_contact(state: State<'_, AppState>, id: String) -> Result<()> {
    state.store.edit_contacts(|book| book.remove(&id))
}

#[tauri::command]
pub fn recent_calls(state: State<'_, AppState>) -> Vec<RecentCall> {
    state.store.recents().calls
}
