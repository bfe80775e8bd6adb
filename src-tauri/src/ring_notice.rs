//! The ring's desktop notification, while the window is not on screen: who calls, with Accept and
//! Decline, withdrawn when the ring ends (answered, declined, missed or cancelled) — dropping the
//! [`RingNotice`] closes it.
//!
//! On Linux and the BSDs it is a freedesktop notification sent with notify-rust (the crate
//! tauri-plugin-notification wraps, which offers neither actions nor withdrawal there): category
//! `call.incoming`, critical urgency, no timeout. Elsewhere the plugin's plain notification is shown.

use tauri::AppHandle;
use tincan_engine::phone::Ring;

pub struct RingNotice {
    /// Dropped: the notification is withdrawn.
    _close: tokio::sync::oneshot::Sender<()>,
}

/// What the notification says: who calls, as the incoming screen says it, and the code that proves it.
fn text(ring: &Ring) -> (String, String) {
    match &ring.from_code {
        Some(code) => (format!("{} is calling", ring.heading), code.clone()),
        // The heading says "Someone calling themselves …": a title as it is.
        None => (ring.heading.clone(), "Incoming call. Unverified: no code proves who this is.".into()),
    }
}

/// Show the notification for `ring`; the user's answer there answers the ring.
pub fn show(app: &AppHandle, ring: &Ring) -> RingNotice {
    let (close, closed) = tokio::sync::oneshot::channel();
    let (summary, body) = text(ring);
    let (app, call) = (app.clone(), ring.call.clone());
    tauri::async_runtime::spawn(async move {
        #[cfg(all(unix, not(target_os = "macos")))]
        act(&app, &call, notify(&summary, &body, closed).await).await;
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            use tauri_plugin_notification::NotificationExt;
            let _ = (call, closed);
            let _ = app.notification().builder().title(summary).body(body).show();
        }
    });
    RingNotice { _close: close }
}

/// What the user did with the notification.
#[derive(Debug, PartialEq)]
enum Answer {
    Accept,
    Decline,
    /// Clicked it (or "Open"): show the window.
    Open,
}

/// Show it, then wait for the user or for `closed` (which withdraws it).
#[cfg(all(unix, not(target_os = "macos")))]
async fn notify(summary: &str, body: &str, closed: tokio::sync::oneshot::Receiver<()>) -> Option<Answer> {
    use notify_rust::{Hint, Notification, NotificationResponse, Timeout, Urgency};
    tracing::debug!("showing the ring's notification");
    let shown = Notification::new()
        .appname("Tincan")
        .summary(summary)
        .body(body)
        .icon("call-start")
        .action("default", "Open")
        .action("accept", "Accept")
        .action("decline", "Decline")
        .hint(Hint::Category("call.incoming".into()))
        .urgency(Urgency::Critical)
        .timeout(Timeout::Never)
        .show_async()
        .await;
    let handle = match shown {
        Ok(h) => {
            tracing::debug!("the ring's notification is shown ({})", h.id());
            h
        }
        Err(e) => {
            tracing::info!("no ring notification (no notification service?): {e}");
            return None;
        }
    };
    let waited = async {
        let mut response = None;
        handle.wait_for_action_async(|r| response = Some(r.clone())).await;
        response
    };
    let response = tokio::select! {
        response = waited => response,
        _ = closed => {
            handle.close_async().await;
            return None;
        }
    };
    tracing::info!("the ring's notification: {response:?}");
    match response? {
        NotificationResponse::Action(key) if key == "accept" => Some(Answer::Accept),
        NotificationResponse::Action(key) if key == "decline" => Some(Answer::Decline),
        NotificationResponse::Default => Some(Answer::Open),
        NotificationResponse::Action(key) if key == "default" => Some(Answer::Open),
        _ => None,
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
async fn act(app: &AppHandle, call: &str, answer: Option<Answer>) {
    use tauri::Manager;
    let state = app.state::<crate::state::AppState>();
    // The ring may have ended while the user clicked.
    if state.phone.ringing().is_none_or(|r| r.call != call) {
        return;
    }
    match answer {
        // The window answers (the call's video needs its channels): it is shown, and told to.
        Some(Answer::Accept) => crate::window::open(app, crate::links::Open::Answer { call: call.to_owned() }),
        Some(Answer::Decline) => {
            state.stop_ringing(Some(call));
            if let Err(e) = state.phone.decline(call).await {
                tracing::info!("declining from the notification: {e}");
            }
        }
        Some(Answer::Open) => crate::window::show(app),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notification_says_who_calls_and_whether_a_code_proves_it() {
        let ring = |heading: &str, from_code: Option<&str>| Ring {
            call: "c1".into(),
            from_name: "Bo".into(),
            heading: heading.into(),
            from_code: from_code.map(Into::into),
            room: "R".into(),
        };
        let (summary, body) = text(&ring("Bo", Some("7KQ2-M9XD-4HTB-PA3E")));
        assert_eq!((summary.as_str(), body.as_str()), ("Bo is calling", "7KQ2-M9XD-4HTB-PA3E"));
        let (summary, body) = text(&ring("Someone calling themselves “Bo”", None));
        assert_eq!(summary, "Someone calling themselves “Bo”");
        assert!(body.contains("Unverified"), "{body}");
    }
}
