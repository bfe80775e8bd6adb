//! The guest web page: people without the app join a room from a browser, with the browser's own WebRTC.
//! `/` is a form (join by code, or start a room), `/r/CODE` the call page, `/guest/*` its scripts and style.
//! The files are compiled in (`crates/signal/web/`), so the page is always the protocol version of this
//! server.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset { name: "guest.css", mime: "text/css; charset=utf-8", body: include_str!("../../web/guest.css") },
    Asset { name: "form.js", mime: "text/javascript; charset=utf-8", body: include_str!("../../web/form.js") },
    Asset { name: "guest.js", mime: "text/javascript; charset=utf-8", body: include_str!("../../web/guest.js") },
    Asset { name: "call.js", mime: "text/javascript; charset=utf-8", body: include_str!("../../web/call.js") },
    Asset { name: "files.js", mime: "text/javascript; charset=utf-8", body: include_str!("../../web/files.js") },
    Asset {
        name: "signaling.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../../web/signaling.js"),
    },
];

const FORM: &str = include_str!("../../web/index.html");
const ROOM: &str = include_str!("../../web/room.html");

/// Only this server's own scripts; media from the camera and the peer; the WebSocket to this host only
/// (CSP3's 'self' covers ws:/wss: of the same host).
const CSP: &str = "default-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; \
                   img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { page(FORM) }))
        .route("/r/{code}", get(room))
        .route("/guest/{file}", get(asset))
}

fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

/// The call page for any code: a malformed or unknown one is told by the server over the WebSocket, in the
/// same words the app shows.
async fn room(Path(_code): Path<String>) -> Response {
    page(ROOM)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.mime),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "No such file.\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_pages_import_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        for source in [FORM, ROOM].into_iter().chain(ASSETS.iter().map(|a| a.body)) {
            let references = source.match_indices("/guest/").chain(source.match_indices("from './"));
            for (i, matched) in references {
                let name: String = source[i + matched.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(served.contains(&name.as_str()), "{name} is referenced but not served");
            }
        }
    }
}
