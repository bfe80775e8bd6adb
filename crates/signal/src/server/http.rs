//! HTTP routes: the WebSocket at `/ws`, `/healthz`, `/metrics`, and the guest web page (`/`, `/r/CODE`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
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
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if s.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "The server is shutting down; reconnect shortly.\n").into_response();
    }
    let too_many = || {
        (StatusCode::TOO_MANY_REQUESTS, "Too many connections from your address; try again shortly.\n").into_response()
    };
    let client = s.limits.client_address(addr.ip(), &headers);
    // The host name the client used: a trusted proxy says it in X-Forwarded-Host (if it does not pass Host on).
    let forwarded_host = if s.limits.is_trusted_proxy(addr.ip()) { headers.get("x-forwarded-host") } else { None };
    let host = forwarded_host
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        // The nearest proxy's entry (the last one): earlier ones are what the client sent.
        .map(|h| crate::identity::server_host(h.rsplit(',').next().unwrap_or(h)))
        .unwrap_or_default();
    if !s.connect_limit.check(client) {
        s.metrics.rejected_connections.inc();
        return too_many();
    }
    // Behind a trusted proxy the socket is the proxy's: count the client it names.
    let client_slot = if client != addr.ip() {
        match s.limits.admit_client(client) {
            Ok(slot) => Some(slot),
            Err(refusal) => {
                s.metrics.refused.count(refusal);
                return too_many();
            }
        }
    } else {
        None
    };
    let hard_limit = s.config.max_message_bytes * HARD_LIMIT_FACTOR;
    let token = s.connections.token();
    upgrade
        // Small buffers: most connections sit idle for hours, and memory per connection is what limits a node.
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| async move {
            connection::run(socket, s, client, host).await;
            drop((token, client_slot));
        })
}

async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    if s.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        "ok\n".into_response()
    }
}

async fn metrics(
    State(s): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !may_read_metrics(&s, addr, &headers) {
        return (
            StatusCode::FORBIDDEN,
            "The metrics need the server's metrics token (Authorization: Bearer …), or a request from the server itself.\n",
        )
            .into_response();
    }
    let body = s.metrics.render(s.backend.counts(), s.limits.open(), &s.queued);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// With a token configured, the request must bear it; without, it must come straight from loopback (not
/// through a proxy, which would make every visitor look local).
fn may_read_metrics(s: &Shared, addr: SocketAddr, headers: &HeaderMap) -> bool {
    match &s.config.metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes())),
        // A trusted proxy on this host (perhaps a plain TCP one that adds no header) forwards strangers.
        None => {
            addr.ip().is_loopback()
                && !s.limits.is_trusted_proxy(addr.ip())
                && !headers.contains_key("forwarded")
                && !headers.contains_key("x-forwarded-for")
        }
    }
}

/// Compares without stopping at the first difference, so timing does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
