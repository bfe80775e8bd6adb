//! The commands through Tauri's IPC on the mock runtime (no display): arguments as the UI sends them,
//! answers and errors as the UI receives them, and what reaches the disk.

use serde_json::{Value, json};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow, WebviewWindowBuilder};

use crate::state::AppState;
use crate::store::Store;

struct Harness {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("config"), &dir.path().join("data"));
    let app = mock_builder()
        .invoke_handler(tauri::generate_handler![
            super::app_info,
            super::call::new_room,
            super::call::guest_link,
            super::call::hang_up,
            super::call::set_microphone,
            super::call::send_chat,
            super::call::frame_shown,
            super::devices::play_test_sound,
            super::contacts::contacts,
            super::contacts::save_contact,
            super::contacts::delete_contact,
            super::contacts::recent_calls,
            super::settings::get_settings,
            super::settings::save_settings,
            super::settings::autostart_enabled,
        ])
        .build(mock_context(noop_assets()))
        .unwrap();
    app.manage(AppState::new(store).0);
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    Harness { _app: app, window, dir }
}

impl Harness {
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|b| b.deserialize::<Value>().unwrap())
    }

    fn err(&self, cmd: &str, args: Value) -> String {
        self.invoke(cmd, args).expect_err(cmd).as_str().unwrap_or_default().to_owned()
    }
}

#[test]
fn first_start_identity_and_settings() {
    let h = harness();
    let info = h.invoke("app_info", json!({})).unwrap();
    assert_eq!(info["display_name"], "", "a first start has no name yet");
    let code = info["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 19);
    assert_eq!(info["link"], format!("tincan://call/{code}"));
    assert_eq!(info["in_call"], false);

    let mut settings = h.invoke("get_settings", json!({})).unwrap();
    settings["display_name"] = json!("  Ana  ");
    settings["theme"] = json!("dark");
    let saved = h.invoke("save_settings", json!({ "settings": settings })).unwrap();
    assert_eq!(saved["display_name"], "Ana");
    assert_eq!(h.invoke("app_info", json!({})).unwrap()["display_name"], "Ana");
    let on_disk = std::fs::read_to_string(h.dir.path().join("config/settings.json")).unwrap();
    assert!(on_disk.contains("\"theme\": \"dark\""), "{on_disk}");

    settings["server_url"] = json!("http://example.org");
    assert!(h.err("save_settings", json!({ "settings": settings })).contains("wss://"));
    settings["theme"] = json!("purple");
    assert!(h.invoke("save_settings", json!({ "settings": settings })).is_err(), "an unknown theme is refused");
    // A refused save changes nothing.
    assert_eq!(h.invoke("get_settings", json!({})).unwrap()["theme"], "dark");
    assert_eq!(h.invoke("autostart_enabled", json!({})).unwrap(), false);
}

#[test]
fn contacts_through_the_commands() {
    let h = harness();
    let bob = h.invoke("save_contact", json!({"id": null, "name": "Bob", "code": "7kq2 m9xd 4htb pa3e"})).unwrap();
    assert_eq!(bob["code"], "7KQ2-M9XD-4HTB-PA3E");
    let id = bob["id"].as_str().unwrap();
    h.invoke("save_contact", json!({"id": id, "name": "Robert", "code": "7KQ2-M9XD-4HTB-PA3E"})).unwrap();
    let list = h.invoke("contacts", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "Robert");

    let own = h.invoke("app_info", json!({})).unwrap()["code"].clone();
    assert_eq!(h.err("save_contact", json!({"id": null, "name": "Me", "code": own})), "That is your own code.");
    assert!(h.err("save_contact", json!({"id": null, "name": "X", "code": "12"})).starts_with("That personal code"));
    assert!(h.invoke("save_contact", json!({"name": "No code"})).is_err(), "a missing argument is an error");

    h.invoke("delete_contact", json!({"id": id})).unwrap();
    assert_eq!(h.invoke("contacts", json!({})).unwrap(), json!([]));
    assert_eq!(h.err("delete_contact", json!({"id": id})), "That contact no longer exists.");
    assert_eq!(h.invoke("recent_calls", json!({})).unwrap(), json!([]));
}

#[test]
fn rooms_and_calls_without_a_call() {
    let h = harness();
    let room = h.invoke("new_room", json!({})).unwrap();
    // Typed as people type codes; no server known yet, so no link for guests.
    assert_eq!(h.invoke("guest_link", json!({"code": room.as_str().unwrap().to_lowercase()})).unwrap(), Value::Null);
    assert!(h.err("guest_link", json!({"code": "7KQ2"})).starts_with("That room code does not work"));
    assert_eq!(h.err("set_microphone", json!({"on": false})), "There is no call.");
    assert_eq!(h.err("send_chat", json!({"text": "hi"})), "There is no call.");
    assert_eq!(h.invoke("hang_up", json!({})).unwrap(), Value::Null);
    assert_eq!(h.invoke("frame_shown", json!({"preview": false})).unwrap(), Value::Null);
    assert_eq!(h.invoke("frame_shown", json!({"preview": true})).unwrap(), Value::Null);
    assert_eq!(h.err("play_test_sound", json!({})), "The device check is not open.");
}
