//! File transfer over the `files` channel. The sender streams the file in chunks (never the whole file in
//! memory), pausing while the channel's send buffer is above a high-water mark; the receiver writes to a
//! temporary file beside the destination while hashing, and keeps it only if the SHA-256 matches.
//!
//! Text messages are JSON [`FileMessage`]s; binary messages are chunks: an 8-byte big-endian transfer id,
//! then the data. Both go on one ordered channel, so the offer always precedes its chunks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, oneshot};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use crate::events::{EngineEvent, FileEvent};
use crate::{EngineError, Result};

/// File bytes per message: with the 8-byte header, within the 64 KiB maximum message size that webrtc-rs
/// (and every browser) accepts.
pub const CHUNK: usize = 64 * 1024 - 8;
/// Pause sending above this much buffered data, resume below LOW.
const HIGH_WATER: usize = 4 << 20;
const LOW_WATER: usize = 1 << 20;
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileMessage {
    Offer {
        id: u64,
        name: String,
        size: u64,
    },
    /// All chunks sent; the sender's hash of what it read.
    Done {
        id: u64,
        sha256: String,
    },
    /// Either side gives up on the transfer.
    Cancel {
        id: u64,
        reason: String,
    },
    /// The receiver's verdict after hashing what it wrote.
    Result {
        id: u64,
        ok: bool,
        sha256: String,
    },
}

/// Who stopped an outgoing transfer.
const RUNNING: u8 = 0;
const CANCELLED_HERE: u8 = 1;
const CANCELLED_BY_PEER: u8 = 2;

struct Outgoing {
    cancel: Arc<AtomicU8>,
    verdict: Option<oneshot::Sender<FileMessage>>,
}

struct Incoming {
    name: String,
    size: u64,
    received: u64,
    temp: PathBuf,
    file: tokio::fs::File,
    hash: Sha256,
    last_progress: Instant,
}

/// The file side of a call.
pub struct Files {
    channel: Arc<dyn DataChannel>,
    drained: Notify,
    outgoing: Mutex<HashMap<u64, Outgoing>>,
    /// Incoming transfers live in the serving task; cancelling one goes through it.
    cancel_incoming: mpsc::UnboundedSender<u64>,
    events: mpsc::UnboundedSender<EngineEvent>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name safe to create in the download folder: no directories, no hidden-file trick, not empty.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String =
        base.chars().filter(|c| !c.is_control()).collect::<String>().trim().trim_start_matches('.').to_owned();
    let cleaned: String = cleaned.chars().take(200).collect();
    if cleaned.is_empty() { "received-file".to_owned() } else { cleaned }
}

/// `dir/name`, or `dir/name (2)` etc. if that exists.
fn free_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.to_owned(), String::new()),
    };
    (2..).map(|n| dir.join(format!("{stem} ({n}){ext}"))).find(|p| !p.exists()).expect("some name is free")
}

impl Files {
    /// Start serving the `files` channel: incoming transfers land in `download_dir`.
    pub fn start(
        channel: Arc<dyn DataChannel>,
        download_dir: PathBuf,
        events: mpsc::UnboundedSender<EngineEvent>,
    ) -> Arc<Files> {
        let (cancel_incoming, cancels) = mpsc::unbounded_channel();
        let files =
            Arc::new(Files { channel, drained: Notify::new(), outgoing: Mutex::default(), cancel_incoming, events });
        tokio::spawn(files.clone().serve(download_dir, cancels));
        files
    }

    fn emit(&self, e: FileEvent) {
        let _ = self.events.send(EngineEvent::File(e));
    }

    async fn send_message(&self, m: &FileMessage) -> Result<()> {
        self.channel.send_text(&serde_json::to_string(m)?).await?;
        Ok(())
    }

    /// A fresh transfer id. 53 bits: the id is a JSON number, and browsers (the guest page) read numbers as
    /// doubles.
    pub fn new_id() -> u64 {
        rand::random::<u64>() >> 11
    }

    /// Send a file as transfer `id` (see [`Files::new_id`]; a file sent to several people has one id);
    /// returns once it is offered, the transfer runs in the background.
    pub async fn send(self: &Arc<Self>, path: PathBuf, id: u64) -> Result<u64> {
        let file =
            tokio::fs::File::open(&path).await.map_err(|e| EngineError::File(format!("{}: {e}", path.display())))?;
        let size = file.metadata().await?.len();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
        let cancel = Arc::new(AtomicU8::new(RUNNING));
        let (verdict_tx, verdict_rx) = oneshot::channel();
        self.outgoing.lock().expect("lock").insert(id, Outgoing { cancel: cancel.clone(), verdict: Some(verdict_tx) });
        self.send_message(&FileMessage::Offer { id, name: name.clone(), size }).await?;
        self.emit(FileEvent::Started { id, name, size, outgoing: true });
        let me = self.clone();
        tokio::spawn(async move {
            let outcome = me.stream(id, file, size, &cancel).await;
            let event = match outcome {
                Ok(_) if cancel.load(Ordering::Acquire) != RUNNING => FileEvent::Cancelled {
                    id,
                    outgoing: true,
                    by_peer: cancel.load(Ordering::Acquire) == CANCELLED_BY_PEER,
                },
                Ok(sha256) => match tokio::time::timeout(Duration::from_secs(60), verdict_rx).await {
                    Ok(Ok(FileMessage::Result { ok: true, sha256: theirs, .. })) if theirs == sha256 => {
                        FileEvent::Completed { id, outgoing: true, path: None, sha256 }
                    }
                    Ok(Ok(FileMessage::Cancel { .. })) => FileEvent::Cancelled { id, outgoing: true, by_peer: true },
                    Ok(Ok(other)) => {
                        FileEvent::Failed { id, outgoing: true, reason: format!("the receiver reported {other:?}") }
                    }
                    Ok(Err(_)) | Err(_) => {
                        FileEvent::Failed { id, outgoing: true, reason: "no confirmation from the receiver".into() }
                    }
                },
                Err(e) => FileEvent::Failed { id, outgoing: true, reason: e.to_string() },
            };
            me.outgoing.lock().expect("lock").remove(&id);
            me.emit(event);
        });
        Ok(id)
    }

    async fn stream(&self, id: u64, mut file: tokio::fs::File, size: u64, cancel: &AtomicU8) -> Result<String> {
        let mut hash = Sha256::new();
        let mut sent = 0u64;
        let mut last_progress = Instant::now();
        let mut buf = vec![0u8; CHUNK];
        self.channel.set_buffered_amount_low_threshold(LOW_WATER as u32).await?;
        loop {
            match cancel.load(Ordering::Acquire) {
                RUNNING => {}
                CANCELLED_HERE => {
                    let reason = "cancelled by the sender".into();
                    self.send_message(&FileMessage::Cancel { id, reason }).await?;
                    return Ok(String::new());
                }
                _ => return Ok(String::new()),
            }
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            while self.channel.outstanding_bytes().await? > HIGH_WATER {
                // Woken by OnBufferedAmountLow; the timeout covers a wake-up that raced the check.
                let _ = tokio::time::timeout(Duration::from_millis(50), self.drained.notified()).await;
            }
            let mut chunk = BytesMut::with_capacity(8 + n);
            chunk.put_u64(id);
            chunk.put_slice(&buf[..n]);
            self.channel.send(chunk).await?;
            sent += n as u64;
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                self.emit(FileEvent::Progress { id, outgoing: true, bytes: sent, total: size });
            }
        }
        let sha256 = hex(&hash.finalize());
        self.send_message(&FileMessage::Done { id, sha256: sha256.clone() }).await?;
        Ok(sha256)
    }

    /// Cancel a transfer in either direction.
    pub async fn cancel(&self, id: u64) -> Result<()> {
        let outgoing = self.outgoing.lock().expect("lock").get(&id).map(|o| o.cancel.clone());
        match outgoing {
            Some(flag) => flag.store(CANCELLED_HERE, Ordering::Release),
            None => self.cancel_incoming.send(id).map_err(|_| EngineError::File("the call has ended".into()))?,
        }
        Ok(())
    }

    async fn serve(self: Arc<Self>, download_dir: PathBuf, mut cancels: mpsc::UnboundedReceiver<u64>) {
        let mut incoming: HashMap<u64, Incoming> = HashMap::new();
        loop {
            let event = tokio::select! {
                event = self.channel.poll() => event,
                Some(id) = cancels.recv() => {
                    if let Some(t) = incoming.remove(&id) {
                        drop(t.file);
                        let _ = tokio::fs::remove_file(&t.temp).await;
                        let reason = "cancelled by the receiver".into();
                        let _ = self.send_message(&FileMessage::Cancel { id, reason }).await;
                        self.emit(FileEvent::Cancelled { id, outgoing: false, by_peer: false });
                    }
                    continue;
                }
            };
            let Some(event) = event else { break };
            match event {
                DataChannelEvent::OnBufferedAmountLow => self.drained.notify_waiters(),
                DataChannelEvent::OnMessage(m) if m.is_string => match serde_json::from_slice::<FileMessage>(&m.data) {
                    Ok(msg) => self.on_message(msg, &mut incoming, &download_dir).await,
                    Err(e) => tracing::warn!("bad file message: {e}"),
                },
                DataChannelEvent::OnMessage(m) => {
                    if m.data.len() < 8 {
                        continue;
                    }
                    let id = u64::from_be_bytes(m.data[..8].try_into().expect("8 bytes"));
                    let Some(t) = incoming.get_mut(&id) else {
                        continue;
                    };
                    let data = &m.data[8..];
                    if t.received + data.len() as u64 > t.size {
                        let t = incoming.remove(&id).expect("present");
                        self.abandon(id, t, "more data than announced").await;
                        continue;
                    }
                    if let Err(e) = t.file.write_all(data).await {
                        let t = incoming.remove(&id).expect("present");
                        self.abandon(id, t, &format!("cannot write: {e}")).await;
                        continue;
                    }
                    t.hash.update(data);
                    t.received += data.len() as u64;
                    if t.last_progress.elapsed() >= PROGRESS_EVERY {
                        t.last_progress = Instant::now();
                        self.emit(FileEvent::Progress { id, outgoing: false, bytes: t.received, total: t.size });
                    }
                }
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
        // The call ended mid-transfer: nothing half-written stays behind.
        for (id, t) in incoming.drain() {
            let _ = tokio::fs::remove_file(&t.temp).await;
            self.emit(FileEvent::Failed { id, outgoing: false, reason: "the call ended".into() });
        }
        for (_, o) in self.outgoing.lock().expect("lock").iter() {
            o.cancel.store(CANCELLED_HERE, Ordering::Release);
        }
    }

    async fn abandon(&self, id: u64, t: Incoming, reason: &str) {
        drop(t.file);
        let _ = tokio::fs::remove_file(&t.temp).await;
        let _ = self.send_message(&FileMessage::Cancel { id, reason: reason.to_owned() }).await;
        self.emit(FileEvent::Failed { id, outgoing: false, reason: reason.to_owned() });
    }

    async fn on_message(&self, msg: FileMessage, incoming: &mut HashMap<u64, Incoming>, dir: &Path) {
        match msg {
            FileMessage::Offer { id, name, size } => {
                let name = safe_file_name(&name);
                let temp = dir.join(format!(".{name}.{id:016x}.part"));
                match tokio::fs::File::create(&temp).await {
                    Ok(file) => {
                        self.emit(FileEvent::Started { id, name: name.clone(), size, outgoing: false });
                        incoming.insert(
                            id,
                            Incoming {
                                name,
                                size,
                                received: 0,
                                temp,
                                file,
                                hash: Sha256::new(),
                                last_progress: Instant::now(),
                            },
                        );
                    }
                    Err(e) => {
                        let reason = format!("cannot save in {}: {e}", dir.display());
                        let _ = self.send_message(&FileMessage::Cancel { id, reason: reason.clone() }).await;
                        self.emit(FileEvent::Failed { id, outgoing: false, reason });
                    }
                }
            }
            FileMessage::Done { id, sha256 } => {
                let Some(mut t) = incoming.remove(&id) else {
                    return;
                };
                let _ = t.file.flush().await;
                drop(t.file);
                let ours = hex(&t.hash.finalize());
                let ok = ours == sha256 && t.received == t.size;
                let _ = self.send_message(&FileMessage::Result { id, ok, sha256: ours.clone() }).await;
                if !ok {
                    let _ = tokio::fs::remove_file(&t.temp).await;
                    let reason = format!(
                        "corrupted: got {} of {} bytes, SHA-256 {ours} instead of {sha256}",
                        t.received, t.size
                    );
                    return self.emit(FileEvent::Failed { id, outgoing: false, reason });
                }
                let path = free_path(dir, &t.name);
                match tokio::fs::rename(&t.temp, &path).await {
                    Ok(()) => self.emit(FileEvent::Completed { id, outgoing: false, path: Some(path), sha256: ours }),
                    Err(e) => self.emit(FileEvent::Failed {
                        id,
                        outgoing: false,
                        reason: format!("cannot keep the file: {e}"),
                    }),
                }
            }
            FileMessage::Cancel { id, .. } => {
                if let Some(t) = incoming.remove(&id) {
                    drop(t.file);
                    let _ = tokio::fs::remove_file(&t.temp).await;
                    self.emit(FileEvent::Cancelled { id, outgoing: false, by_peer: true });
                }
                let mut out = self.outgoing.lock().expect("lock");
                if let Some(o) = out.get_mut(&id) {
                    o.cancel.store(CANCELLED_BY_PEER, Ordering::Release);
                    if let Some(v) = o.verdict.take() {
                        let _ = v.send(FileMessage::Cancel { id, reason: String::new() });
                    }
                }
            }
            FileMessage::Result { id, .. } => {
                if let Some(v) = self.outgoing.lock().expect("lock").get_mut(&id).and_then(|o| o.verdict.take()) {
                    let _ = v.send(msg);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_download_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\x\\report.pdf"), "report.pdf");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name(""), "received-file");
        assert_eq!(safe_file_name("a\u{0}b"), "ab");
    }

    #[test]
    fn existing_files_are_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("tincan-free-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "x").unwrap();
        std::fs::write(dir.join("a (2).txt"), "x").unwrap();
        assert_eq!(free_path(&dir, "a.txt"), dir.join("a (3).txt"));
        assert_eq!(free_path(&dir, "b"), dir.join("b"));
    }
}
