//! Device notices: the things a user should be told about their devices (the CLI prints them, the app shows
//! them). Sources and sinks run on their own threads, so notices go through a callback that any thread may
//! call.

use std::sync::Arc;

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "device", rename_all = "snake_case")]
pub enum DeviceNotice {
    /// The device in use went away; `fallback` is what is used instead, if anything.
    Lost { kind: &'static str, name: String, fallback: Option<String> },
    /// A device is (again) in use.
    Using { kind: &'static str, name: String },
    /// There is no such device at all right now (a normal state: the call goes on without it).
    Absent { kind: &'static str, message: String },
}

/// Where notices go. Cheap to clone; the default drops them (after logging).
#[derive(Clone, Default)]
pub struct Notices(Option<Arc<dyn Fn(DeviceNotice) + Send + Sync>>);

impl Notices {
    pub fn new(f: impl Fn(DeviceNotice) + Send + Sync + 'static) -> Self {
        Notices(Some(Arc::new(f)))
    }

    pub fn send(&self, notice: DeviceNotice) {
        tracing::info!(?notice, "device");
        if let Some(f) = &self.0 {
            f(notice)
        }
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notices")
    }
}
