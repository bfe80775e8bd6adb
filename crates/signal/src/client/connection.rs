//! The client task: dial, hello, register, re-join, pump messages; on loss, back off and do it again.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream, connect_async_tls_with_config};

use super::backoff::Backoff;
use super::{ClientConfig, ClientEvent, Command, RoomWish, Wishes};
use crate::protocol::{ClientMessage, ErrorCode, PROTOCOL_VERSION, Replaces, ServerMessage};
use crate::{Error, Result};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a connected session ended.
enum Exit {
    /// The application closed the client.
    Closed,
    /// The connection was lost; reconnect.
    Lost(String),
    /// Lost while a probe was out (the network probably changed): reconnect at once.
    LostProbing(String),
}

struct Welcome {
    peer_id: String,
    nonce: String,
    resume_token: String,
    message: ServerMessage,
}

pub(super) async fn run(
    config: ClientConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<ClientEvent>,
) {
    let mut wishes = Wishes::default();
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let mut reconnected = false;
    // The connection a reconnect replaces, so the server lets go of it at once (see `hello`).
    let mut previous: Option<Replaces> = None;
    loop {
        // Kept until a dial succeeds: a redial that fails (the new network is not up yet) must not lose it.
        let reason = match dial(&config, previous.clone()).await {
            Ok((ws, welcome)) => {
                backoff.reset();
                previous = (!welcome.resume_token.is_empty())
                    .then(|| Replaces { peer_id: welcome.peer_id.clone(), token: welcome.resume_token.clone() });
                let ServerMessage::Welcome { ice_servers, limits, .. } = welcome.message else {
                    unreachable!("dial returns a welcome")
                };
                let connected = ClientEvent::Connected { peer_id: welcome.peer_id, ice_servers, limits, reconnected };
                if events.send(connected).await.is_err() {
                    return;
                }
                reconnected = true;
                match session(&config, ws, &welcome.nonce, &mut wishes, &mut commands, &events).await {
                    Exit::Closed => return,
                    Exit::Lost(reason) => (reason, false),
                    Exit::LostProbing(reason) => (reason, true),
                }
            }
            Err(e) => (e.to_string(), false),
        };
        let (reason, at_once) = reason;
        // A connection lost to a probe is a changed network, not a struggling server: no pause first.
        let retry_in = if at_once { std::time::Duration::ZERO } else { backoff.next_delay() };
        tracing::debug!(%reason, ?retry_in, "signaling connection lost");
        if events.send(ClientEvent::Disconnected { reason, retry_in }).await.is_err() {
            return;
        }
        let pause = tokio::time::sleep(retry_in);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                command = commands.recv() => match command {
                    None | Some(Command::Close) => return,
                    Some(Command::Join(w)) => wishes.room = Some(w),
                    Some(Command::Leave) => wishes.room = None,
                    Some(Command::Watch(codes)) => wishes.watch = Some(codes),
                    Some(Command::Send(_, reply)) => { let _ = reply.send(Err(Error::NotConnected)); }
                    Some(Command::Probe) => {}
                },
            }
        }
    }
}

fn text(message: &ClientMessage) -> Message {
    Message::text(message.to_json())
}

async fn dial(config: &ClientConfig, replaces: Option<Replaces>) -> Result<(Ws, Welcome)> {
    if config.url.starts_with("wss:") && config.tls.is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let connector = config.tls.clone().map(Connector::Rustls);
    let connecting = connect_async_tls_with_config(config.url.as_str(), None, true, connector);
    let (mut ws, _) = tokio::time::timeout(config.hello_timeout, connecting).await.map_err(|_| Error::Timeout)??;
    ws.send(text(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: config.client_name.clone(), replaces }))
        .await?;
    let welcome = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<ServerMessage>(&t)? {
                    m @ ServerMessage::Welcome { .. } => return Ok(m),
                    ServerMessage::Error { code: ErrorCode::UnsupportedVersion, .. } => {
                        return Err(Error::Version { server: 0, client: PROTOCOL_VERSION });
                    }
                    ServerMessage::Error { code, message, .. } => {
                        return Err(Error::Server { code, message });
                    }
                    _ => continue,
                },
                Some(Ok(Message::Close(_))) | None => return Err(Error::NotConnected),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
            }
        }
    };
    let message = tokio::time::timeout(config.hello_timeout, welcome).await.map_err(|_| Error::Timeout)??;
    let ServerMessage::Welcome { peer_id, nonce, version, resume_token, .. } = &message else { unreachable!() };
    if *version != PROTOCOL_VERSION {
        return Err(Error::Version { server: *version, client: PROTOCOL_VERSION });
    }
    let welcome =
        Welcome { peer_id: peer_id.clone(), nonce: nonce.clone(), resume_token: resume_token.clone(), message };
    Ok((ws, welcome))
}

async fn session(
    config: &ClientConfig,
    mut ws: Ws,
    nonce: &str,
    wishes: &mut Wishes,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &mpsc::Sender<ClientEvent>,
) -> Exit {
    // A probe (the network may have changed): its ping's id, and when the server's pong must be in by. Only
    // that pong clears it: a frame already on its way before the network changed proves nothing.
    let mut probe: Option<(u64, Instant)> = None;
    let mut probe_ids = 0u64;
    let lost = |reason: String, probe: Option<(u64, Instant)>| {
        if probe.is_some() { Exit::LostProbing(reason) } else { Exit::Lost(reason) }
    };
    macro_rules! send_or_lose {
        ($message:expr) => {
            if let Err(e) = ws.send(text(&$message)).await {
                return lost(e.to_string(), probe);
            }
        };
    }
    if let Some(identity) = config.identity.as_ref().filter(|_| config.register) {
        let signature = identity.sign_registration(&host_of(&config.url), nonce);
        send_or_lose!(ClientMessage::Register { public_key: identity.public_key_b64(), signature });
    }
    if let Some(w) = wishes.room.as_ref() {
        send_or_lose!(w.message());
    }
    if let Some(codes) = wishes.watch.clone() {
        send_or_lose!(ClientMessage::Watch { codes });
    }
    let mut keepalive = tokio::time::interval_at(Instant::now() + config.keepalive, config.keepalive);
    let mut last_heard = Instant::now();
    loop {
        let probe_deadline = async {
            match probe {
                Some((_, at)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = ws.next() => {
                if matches!(frame, Some(Ok(_))) {
                    last_heard = Instant::now();
                }
                match frame {
                    Some(Ok(Message::Text(t))) => match serde_json::from_str::<ServerMessage>(&t) {
                        Ok(ServerMessage::Pong { id: Some(id) }) if probe.is_some_and(|(p, _)| p == id) => probe = None,
                        Ok(message) => {
                            follow_room(&mut wishes.room, &message);
                            if events.send(ClientEvent::Message(message)).await.is_err() {
                                let _ = ws.close(None).await;
                                return Exit::Closed;
                            }
                        }
                        Err(e) => tracing::warn!("unreadable message from the server: {e}"),
                    },
                    Some(Ok(Message::Close(frame))) => {
                        return Exit::Lost(frame.map(|f| f.reason.to_string()).unwrap_or_else(|| "closed by the server".into()));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return lost(e.to_string(), probe),
                    None => return lost("the connection closed".into(), probe),
                }
            }
            command = commands.recv() => match command {
                None | Some(Command::Close) => {
                    let _ = ws.close(None).await;
                    return Exit::Closed;
                }
                Some(Command::Join(w)) => {
                    send_or_lose!(w.message());
                    wishes.room = Some(w);
                }
                Some(Command::Leave) => {
                    wishes.room = None;
                    send_or_lose!(ClientMessage::Leave);
                }
                Some(Command::Watch(codes)) => {
                    wishes.watch = Some(codes.clone());
                    send_or_lose!(ClientMessage::Watch { codes });
                }
                Some(Command::Probe) => {
                    if probe.is_none() {
                        probe_ids += 1;
                        probe = Some((probe_ids, Instant::now() + config.probe_timeout));
                        send_or_lose!(ClientMessage::Ping { id: Some(probe_ids) });
                    }
                }
                Some(Command::Send(mut message, reply)) => {
                    prove_caller(config, nonce, &mut message);
                    let result = ws.send(text(&message)).await;
                    let failed = result.as_ref().err().map(ToString::to_string);
                    let _ = reply.send(result.map_err(Error::from));
                    if let Some(reason) = failed {
                        return lost(reason, probe);
                    }
                }
            },
            _ = probe_deadline => return Exit::LostProbing("the server did not answer a probe".into()),
            _ = keepalive.tick() => {
                if last_heard.elapsed() > config.keepalive * 3 {
                    return Exit::Lost("the server stopped answering".into());
                }
                send_or_lose!(ClientMessage::Ping { id: None });
            }
        }
    }
}

/// A ring says who rings: sign this connection's nonce with the identity, if there is one.
fn prove_caller(config: &ClientConfig, nonce: &str, message: &mut ClientMessage) {
    if let (Some(identity), ClientMessage::Ring { public_key: key @ None, signature: sig @ None, .. }) =
        (&config.identity, message)
    {
        *key = Some(identity.public_key_b64());
        *sig = Some(identity.sign_registration(&host_of(&config.url), nonce));
    }
}

/// The host name a signature binds (the server's, as this client reached it).
fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(crate::identity::server_host)).unwrap_or_default()
}

/// Keep the room wish in step with what the server says: once joined, a re-join after a reconnect may
/// re-create the room (we may have been alone in it); a refused join is not retried.
fn follow_room(wish: &mut Option<RoomWish>, message: &ServerMessage) {
    match message {
        ServerMessage::Joined { capacity, .. } => {
            if let Some(w) = wish.as_mut() {
                w.create = true;
                // Re-created after a server restart, the room is as large as it was (not the default).
                w.capacity = Some(*capacity);
            }
        }
        ServerMessage::Error { code, request: Some(request), .. }
            if request == "join" && *code != ErrorCode::AlreadyInRoom =>
        {
            *wish = None;
        }
        _ => {}
    }
}
