//! The I/O of one WebSocket connection: frames in, replies and relayed messages out, heartbeats, and the
//! reasons a connection ends. The protocol decisions are the `Session`'s.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};

use super::mailbox;
use super::rate_limit::MessageLimit;
use super::session::{Reject, Session};
use super::shared::Shared;
use crate::protocol::{ErrorCode, ServerMessage, parse_client_message};

/// A write that takes longer than this (the client stopped reading, its socket buffers are full) ends the
/// connection as a slow consumer; so does a full mailbox (`mailbox.rs`).
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Refused frames are counted over this window; more than a burst's worth in it closes the connection.
const REFUSAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a goodbye may take before the connection is dropped anyway.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);
/// Frames still read while waiting for a flooder's close (it may have had a few in flight).
const LINGER_FRAMES: u32 = 16;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed, or the socket failed.
    Gone,
    /// The server ends it, telling the client why.
    Server(ErrorCode, u16),
}

/// The sending half, with a deadline on every write: a client that stops reading must not hold its
/// connection task (and its heartbeat) hostage.
struct Sink {
    inner: futures_util::stream::SplitSink<WebSocket, Message>,
    timeout: Duration,
}

/// `Ok` when written; otherwise how the connection ends.
type Sent = Result<(), End>;

impl Sink {
    async fn frame(&mut self, frame: Message) -> Sent {
        match tokio::time::timeout(self.timeout, self.inner.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Server(ErrorCode::SlowConsumer, close_code::POLICY)),
        }
    }

    async fn message(&mut self, message: &ServerMessage) -> Sent {
        self.frame(Message::Text(Utf8Bytes::from(message.to_json()))).await
    }

    async fn error(&mut self, s: &Shared, reject: Reject, request: Option<&str>) -> Sent {
        s.metrics.error(reject.code);
        self.message(&ServerMessage::error(reject.code, reject.detail.as_deref(), request)).await
    }
}

/// `ip`: the client's address; `host`: the host name it reached the server by.
pub async fn run(socket: WebSocket, s: Arc<Shared>, ip: IpAddr, host: String) {
    let (mailbox, mut queue) = mailbox::mailbox(s.queued.clone());
    let mut session = Session::new(ip, host);
    s.backend.attach(&session.peer, mailbox).await;
    let live = s.takeovers.register(&session.peer);
    s.metrics.connections_total.inc();
    tracing::debug!(peer = %session.peer, %ip, "connected");

    let (sink, mut stream) = socket.split();
    let mut sink = Sink { inner: sink, timeout: WRITE_TIMEOUT.min(s.config.idle_timeout) };
    let limit = MessageLimit::per_second(s.config.messages_per_second, s.config.message_burst);
    let mut heartbeat = tokio::time::interval_at(Instant::now() + s.config.heartbeat, s.config.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // TURN credentials live `ttl`; a connection in a room gets fresh ones every half of that, so what it
    // holds is always good for at least half a lifetime.
    // (Without TURN the branch is off; the interval only needs a period.)
    // At least daily (a lifetime of years must not overflow the timer), at most every second.
    let relay_every =
        s.config.turn.as_ref().map(|t| (t.ttl / 2).clamp(Duration::from_secs(1), Duration::from_secs(86_400)));
    let period = relay_every.unwrap_or(Duration::from_secs(86_400));
    let mut relay_refresh = tokio::time::interval_at(Instant::now() + period, period);
    relay_refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let hello_deadline = tokio::time::sleep(s.config.hello_timeout);
    tokio::pin!(hello_deadline);
    let mut last_heard = Instant::now();
    // Frames refused by the message limit in the current window, and whether this run was answered.
    let mut refused = (Instant::now(), 0u32);
    let mut refusal_told = false;

    let end = loop {
        tokio::select! {
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => {
                        // Frames far over the limit are refused by the WebSocket layer itself.
                        let too_big = matches!(e.into_inner().downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
                            Some(tokio_tungstenite::tungstenite::Error::Capacity(_)));
                        break if too_big { End::Server(ErrorCode::TooLarge, close_code::SIZE) } else { End::Gone };
                    }
                    None => break End::Gone,
                };
                last_heard = Instant::now();
                // Every data frame counts against the message limit before it is looked at: a flood of
                // garbage or oversized frames costs a token each, and closes the connection if it goes on.
                if matches!(frame, Message::Text(_) | Message::Binary(_)) {
                    if limit.check() {
                        refusal_told = false;
                    } else {
                        // More than a burst's worth refused within ten seconds is a flood, closed (a token
                        // refilled now and then does not reset the count).
                        if refused.0.elapsed() > REFUSAL_WINDOW {
                            refused = (Instant::now(), 0);
                        }
                        refused.1 += 1;
                        if refused.1 > s.config.message_burst.max(1) {
                            break End::Server(ErrorCode::RateLimited, close_code::POLICY);
                        }
                        // One answer per run of refusals, not one per frame.
                        if !refusal_told {
                            refusal_told = true;
                            if let Err(end) = sink.error(&s, Reject { code: ErrorCode::RateLimited, detail: None }, None).await {
                                break end;
                            }
                        }
                        continue;
                    }
                }
                let sent = match frame {
                    Message::Text(text) => on_text(&s, &mut session, &mut sink, &text).await,
                    Message::Binary(_) => sink.error(&s, Reject { code: ErrorCode::BinaryUnsupported, detail: None }, None).await,
                    Message::Ping(_) | Message::Pong(_) => Ok(()),
                    Message::Close(_) => break End::Gone,
                };
                if let Err(end) = sent { break end; }
            }
            out = queue.recv() => match out {
                Some(text) => if let Err(end) = sink.frame(Message::Text(text)).await { break end },
                None => break End::Server(ErrorCode::SlowConsumer, close_code::POLICY),
            },
            _ = relay_refresh.tick(), if relay_every.is_some() => {
                if let Some(relay) = session.fresh_relay(&s)
                    && let Err(end) = sink.message(&relay).await
                {
                    break end;
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > s.config.idle_timeout {
                    break End::Server(ErrorCode::IdleTimeout, close_code::POLICY);
                }
                if let Err(end) = sink.frame(Message::Ping(Default::default())).await { break end; }
            }
            _ = &mut hello_deadline, if !session.greeted() => break End::Server(ErrorCode::HelloRequired, close_code::POLICY),
            _ = s.shutdown.cancelled() => break End::Server(ErrorCode::ShuttingDown, close_code::AWAY),
            _ = live.kick.cancelled() => break End::Server(ErrorCode::Replaced, close_code::POLICY),
        }
    };

    // Leave the room and release the code first: a connection taking over this one waits for that, not for
    // a goodbye to an address that may be gone.
    session.close(&s).await;
    s.takeovers.unregister(&session.peer);

    if let End::Server(code, close) = end {
        tracing::debug!(peer = %session.peer, %code, "closing");
        s.metrics.error(code);
        sink.timeout = GOODBYE_TIMEOUT;
        if sink.message(&ServerMessage::error(code, None, None)).await.is_ok() {
            let frame = CloseFrame { code: close, reason: Utf8Bytes::from_static(code.sentence()) };
            if sink.frame(Message::Close(Some(frame))).await.is_ok() {
                // A flood (refused past its burst, or oversized) gets only a few more frames read; a client
                // ended for another reason (shutdown, takeover, idle) may have a burst of its own in flight.
                let flood = matches!(code, ErrorCode::RateLimited | ErrorCode::TooLarge);
                linger(&mut stream, if flood { LINGER_FRAMES } else { u32::MAX }).await;
            }
        }
    }
    tracing::debug!(peer = %session.peer, "disconnected");
}

/// Wait for the client's half of the closing handshake. Dropping a socket that still has unread input makes
/// the kernel send a reset, which can destroy our goodbye before the client reads it; so when the stream is
/// unusable (e.g. after an oversized frame) we wait out the goodbye time instead. A client that keeps
/// sending after our close (a flood) gets only a few frames read: reading on would cost the server the
/// flood's full speed for the whole wait, and a flooder's goodbye is not worth that.
async fn linger(stream: &mut futures_util::stream::SplitStream<WebSocket>, mut frames_left: u32) {
    let deadline = Instant::now() + GOODBYE_TIMEOUT / 4;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Err(_) => return,
            Ok(Some(Ok(_))) if frames_left > 0 => frames_left -= 1,
            Ok(Some(Ok(_))) => return,
            Ok(Some(Err(_)) | None) => return tokio::time::sleep_until(deadline).await,
        }
    }
}

/// Handle one text frame; false if the answer could not be written in time.
async fn on_text(s: &Arc<Shared>, session: &mut Session, sink: &mut Sink, text: &str) -> Sent {
    if text.len() > s.config.max_message_bytes {
        let detail = format!("The limit is {} bytes; this one has {}.", s.config.max_message_bytes, text.len());
        return sink.error(s, Reject { code: ErrorCode::TooLarge, detail: Some(detail) }, None).await;
    }
    let message = match parse_client_message(text) {
        Ok(m) => m,
        Err(e) => {
            let request = e.request.clone();
            return sink.error(s, Reject { code: e.code, detail: Some(e.detail) }, request.as_deref()).await;
        }
    };
    let request = Some(message.type_name());
    match session.handle(s, message).await {
        Ok(replies) => {
            for reply in &replies {
                sink.message(reply).await?;
            }
            Ok(())
        }
        Err(reject) => sink.error(s, reject, request).await,
    }
}
