//! HTTP routes: the WebSocket at `/ws`, `/healthz`, `/metrics`, and the guest web page (`/`, `/r/CODE`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::shared::Shared;
use super::{connection, guest};

/// Frames over this many times `max_message_bytes` close the connection instead of getting an error reply.
const HARD_LIMIT_FACTOR: usize = 4;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ws", get(websocket))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(guest::routes())
        .with_state(shared)
}

async fn websocket(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if s.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "The server is shutting down; reconnect shortly.\n").into_response();
    }
    if !s.connect_limit.check(addr.ip()) {
        s.metrics.rejected_connections.inc();
        return (StatusCode::TOO_MANY_REQUESTS, "Too many connections from your address; try again shortly.\n")
            .into_response();
    }
    let hard_limit = s.config.max_message_bytes * HARD_LIMIT_FACTOR;
    let token = s.connections.token();
    upgrade
        // Small buffers: most connections sit idle for hours, and memory per connection is what limits a node.
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| async move {
            connection::run(socket, s, addr.ip()).await;
            drop(token);
        })
}

async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    if s.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        "ok\n".into_response()
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let body = s.metrics.render(s.backend.counts());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}
