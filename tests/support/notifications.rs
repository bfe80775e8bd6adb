//! A freedesktop notification server of the test's own, on the scenario's private session bus: it keeps
//! what apps show and withdraw (summary, body, actions, category), and clicks a notification's action as a
//! user would (the `ActionInvoked` signal, then `NotificationClosed`, as notification daemons do), so a test
//! can answer a ring from its notification. zbus serves it; the app talks to it over real D-Bus.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedValue;

const PATH: &str = "/org/freedesktop/Notifications";
const INTERFACE: &str = "org.freedesktop.Notifications";

/// One notification as an app sent it.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    pub id: u32,
    pub app: String,
    pub summary: String,
    pub body: String,
    /// (key, label) pairs.
    pub actions: Vec<(String, String)>,
    pub category: Option<String>,
    /// Gone: withdrawn by the app or clicked.
    pub closed: bool,
    /// Withdrawn by the app (`CloseNotification`).
    pub withdrawn: bool,
}

#[derive(Default)]
struct Server {
    shown: Arc<Mutex<Vec<Shown>>>,
}

fn lock(shown: &Mutex<Vec<Shown>>) -> std::sync::MutexGuard<'_, Vec<Shown>> {
    shown.lock().unwrap_or_else(|p| p.into_inner())
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut shown = lock(&self.shown);
        let id = if replaces_id != 0 { replaces_id } else { shown.len() as u32 + 1 };
        let category = hints.get("category").and_then(|v| String::try_from(v.clone()).ok());
        let actions = actions.chunks(2).map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default())).collect();
        shown.retain(|n| n.id != id);
        shown.push(Shown { id, app: app_name, summary, body, actions, category, closed: false, withdrawn: false });
        id
    }

    async fn close_notification(&self, id: u32, #[zbus(signal_emitter)] emitter: SignalEmitter<'_>) {
        if let Some(n) = lock(&self.shown).iter_mut().find(|n| n.id == id) {
            n.closed = true;
            n.withdrawn = true;
        }
        // 3: closed by a call to CloseNotification.
        let _ = Self::notification_closed(&emitter, id, 3).await;
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("tincan-test".into(), "tincan".into(), "1".into(), "1.2".into())
    }

    #[zbus(signal)]
    async fn notification_closed(emitter: &SignalEmitter<'_>, id: u32, reason: u32) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn action_invoked(emitter: &SignalEmitter<'_>, id: u32, action_key: &str) -> zbus::Result<()>;
}

pub struct Notifications {
    shown: Arc<Mutex<Vec<Shown>>>,
    connection: zbus::blocking::Connection,
}

impl Notifications {
    /// Serve notifications on the bus at `address` (a [`super::dbus::SessionBus`]'s).
    pub fn start(address: &str) -> anyhow::Result<Notifications> {
        let server = Server::default();
        let shown = server.shown.clone();
        let connection =
            zbus::blocking::connection::Builder::address(address)?.name(INTERFACE)?.serve_at(PATH, server)?.build()?;
        Ok(Notifications { shown, connection })
    }

    pub fn shown(&self) -> Vec<Shown> {
        lock(&self.shown).clone()
    }

    /// Click the action `key` of notification `id`.
    pub fn click(&self, id: u32, key: &str) -> anyhow::Result<()> {
        self.connection.emit_signal(None::<&str>, PATH, INTERFACE, "ActionInvoked", &(id, key))?;
        if let Some(n) = lock(&self.shown).iter_mut().find(|n| n.id == id) {
            n.closed = true;
        }
        // 2: dismissed by the user.
        self.connection.emit_signal(None::<&str>, PATH, INTERFACE, "NotificationClosed", &(id, 2u32))?;
        Ok(())
    }
}
