//! Helpers for the signaling integration tests: a real server on a loopback port, and a raw WebSocket
//! client that speaks JSON values, so the tests check the wire format itself.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tincan_signal::server::{ServerConfig, SignalServer};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(5);

pub async fn server(config: ServerConfig) -> SignalServer {
    SignalServer::start(config).await.expect("server starts")
}

pub async fn default_server() -> SignalServer {
    server(ServerConfig::loopback_unlimited()).await
}

pub struct Raw {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    pub async fn connect(url: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        Raw { ws }
    }

    /// Connect and say hello; returns the `welcome`.
    pub async fn hello(url: &str) -> (Raw, Value) {
        let mut raw = Raw::connect(url).await;
        raw.send(json!({"type": "hello", "version": 1, "client": "test"})).await;
        let welcome = raw.expect("welcome").await;
        (raw, welcome)
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next JSON message (pings and pongs skipped); panics after `WAIT` or on close.
    pub async fn recv(&mut self) -> Value {
        self.try_recv(WAIT).await.expect("a message within the wait")
    }

    /// The next JSON message within `wait`, or `None` if nothing came or the connection closed.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()??;
            match frame {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(&t).expect("server sends JSON"));
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    pub async fn expect(&mut self, kind: &str) -> Value {
        let v = self.recv().await;
        assert_eq!(v["type"], kind, "expected {kind}, got {v}");
        v
    }

    pub async fn expect_error(&mut self, code: &str) -> Value {
        let v = self.expect("error").await;
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| m.len() > 5), "a human sentence: {v}");
        v
    }

    /// Reads until the server closes the connection; returns the close frame's code.
    pub async fn expect_closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await.expect("closed within the wait") {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Join a room (creating it) and return the `joined` message.
    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room, "create": true})).await;
        self.expect("joined").await
    }
}

/// Two peers in a fresh room, each having seen the other arrive.
pub async fn pair(url: &str, room: &str) -> (Raw, String, Raw, String) {
    let (mut a, wa) = Raw::hello(url).await;
    let (mut b, wb) = Raw::hello(url).await;
    a.join(room).await;
    let joined = b.join(room).await;
    assert_eq!(joined["peers"][0]["id"], wa["peer_id"]);
    let arrived = a.expect("peer_joined").await;
    assert_eq!(arrived["peer"]["id"], wb["peer_id"]);
    let id = |w: &Value| w["peer_id"].as_str().unwrap().to_owned();
    (a, id(&wa), b, id(&wb))
}

/// A relay round trip that proves a pair is still served.
pub async fn assert_relays(a: &mut Raw, b: &mut Raw, b_id: &str) {
    let data = json!({"sdp": format!("v=0 {}", rand_token())});
    a.send(json!({"type": "signal", "to": b_id, "kind": "offer", "data": data})).await;
    let got = b.expect("signal").await;
    assert_eq!(got["data"], data);
    assert_eq!(got["kind"], "offer");
}

pub fn rand_token() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}
