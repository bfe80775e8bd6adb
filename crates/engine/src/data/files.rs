//! File transfer over the `files` channel. The sender offers a file and waits; the receiver's front end
//! (or its [`FilePolicy`]) accepts or declines it, and nothing touches the disk before it is accepted. The
//! sender then streams the file in chunks (never the whole file in memory), pausing while the channel's send
//! buffer is above a high-water mark; the receiver writes to a temporary file beside the destination while
//! hashing, and keeps it only if the SHA-256 matches. A temporary file is removed on every way out (decline,
//! cancel, error, hang-up, a panic): it belongs to a guard that deletes it unless the file was kept.
//!
//! What a peer can make us hold is bounded: [`MAX_INCOMING`] offers and transfers at once per participant,
//! a declared size of at most the configured maximum and what the disk has free, one use per transfer id.
//!
//! Text messages are JSON [`FileMessage`]s; binary messages are chunks: an 8-byte big-endian transfer id,
//! then the data. Both go on one ordered channel, so the offer always precedes its chunks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
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
/// Offers and transfers from one participant at once; more are declined.
pub const MAX_INCOMING: usize = 4;
/// An offer not answered within this is declined (the sender waits a little longer).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(120);
/// The largest file accepted unless the front end says otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 << 30;
/// Room left on the disk after a file is written, at least.
const SPACE_MARGIN: u64 = 64 << 20;
/// Transfer ids remembered per participant, so that one is never used twice.
const IDS_REMEMBERED: usize = 1024;
/// An accepted transfer that gets no data for this long is given up (its temporary file goes).
const STALLED_AFTER: Duration = Duration::from_secs(30);
/// Bytes a saved name may have (a file system allows 255; the temporary name adds 23 and a "(n)" suffix).
const MAX_NAME_BYTES: usize = 200;

/// What to do with a file someone offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FilePolicy {
    /// Tell the front end ([`FileEvent::Offered`]) and wait for `accept_file` or `decline_file`.
    #[default]
    Ask,
    /// Take every offer that fits the limits (tests, benchmarks, a headless receiver told so).
    Accept,
    /// Take none.
    Decline,
}

/// Where and what this side receives.
#[derive(Clone, Debug)]
pub struct Receiving {
    pub dir: PathBuf,
    pub policy: FilePolicy,
    pub max_size: u64,
    /// Bytes still to arrive in the call's accepted transfers (every link's), held against the free space.
    pub reserved: Arc<AtomicU64>,
    /// The participant this link receives from (named in `Offered` and `Declined`).
    pub from: String,
}

/// A transfer's claim on the disk's free space, given back when it ends however it ends.
struct Reservation {
    pool: Arc<AtomicU64>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.pool.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileMessage {
    Offer {
        id: u64,
        name: String,
        size: u64,
        /// The sender sends nothing before `accept` (every sender since the receiver was asked; an offer
        /// without it is from one that streams at once, and is refused at once rather than after 30 s).
        #[serde(default)]
        waits: bool,
    },
    /// The receiver takes the offer: send the chunks. (A decline is a `Cancel`.)
    Accept { id: u64 },
    /// All chunks sent; the sender's hash of what it read.
    Done { id: u64, sha256: String },
    /// Either side gives up on the transfer.
    Cancel { id: u64, reason: String },
    /// The receiver's verdict after hashing what it wrote.
    Result { id: u64, ok: bool, sha256: String },
}

/// Who stopped an outgoing transfer.
const RUNNING: u8 = 0;
const CANCELLED_HERE: u8 = 1;
const CANCELLED_BY_PEER: u8 = 2;

struct Outgoing {
    cancel: Arc<AtomicU8>,
    /// Told when the receiver accepts.
    accepted: Option<oneshot::Sender<()>>,
    verdict: Option<oneshot::Sender<FileMessage>>,
}

/// An offer waiting for the front end's answer.
struct Pending {
    name: String,
    size: u64,
    until: Instant,
}

/// A temporary file that is deleted when dropped, unless kept.
struct Temp {
    path: PathBuf,
    kept: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

struct Incoming {
    name: String,
    size: u64,
    received: u64,
    file: tokio::fs::File,
    temp: Temp,
    hash: Sha256,
    last_progress: Instant,
    /// When data last came: a sender that stops is given up after [`STALLED_AFTER`].
    last_data: Instant,
    _space: Reservation,
}

/// What the front end (or the call ending) asks of incoming transfers.
enum Answer {
    Accept(u64),
    Decline(u64),
    Cancel(u64),
}

/// The serving task's view of incoming transfers.
struct Inbox {
    pending: HashMap<u64, Pending>,
    incoming: HashMap<u64, Incoming>,
    /// Ids offered so far (the newest [`IDS_REMEMBERED`]).
    seen: std::collections::VecDeque<u64>,
}

/// The file side of a call.
pub struct Files {
    channel: Arc<dyn DataChannel>,
    drained: Notify,
    outgoing: Mutex<HashMap<u64, Outgoing>>,
    /// Incoming transfers live in the serving task; answering or cancelling one goes through it.
    answers: mpsc::UnboundedSender<Answer>,
    events: mpsc::UnboundedSender<EngineEvent>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name safe to create in the download folder and honest to show: no directories, no hidden-file trick;
/// control characters shown as `_` (so `report.pdf\n.desktop` cannot pass for a PDF), invisible format
/// characters (a right-to-left override turning `exe.pdf` around) taken out; at most [`MAX_NAME_BYTES`],
/// cut in the stem so the extension stays; never empty.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !tincan_signal::protocol::name::is_format(*c))
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return "received-file".to_owned();
    }
    if cleaned.len() <= MAX_NAME_BYTES {
        return cleaned.to_owned();
    }
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() && ext.len() <= 16 => (stem, format!(".{ext}")),
        _ => (cleaned, String::new()),
    };
    let mut cut = String::new();
    for c in stem.chars() {
        if cut.len() + c.len_utf8() + ext.len() > MAX_NAME_BYTES {
            break;
        }
        cut.push(c);
    }
    format!("{}{ext}", cut.trim_end())
}

/// Bytes free for an unprivileged user on the file system holding `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs reads the NUL-terminated path and writes only the struct passed by pointer.
    (unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
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
    /// Start serving the `files` channel: offers are answered as `receiving` says, accepted files land in its
    /// folder.
    pub fn start(
        channel: Arc<dyn DataChannel>,
        receiving: Receiving,
        events: mpsc::UnboundedSender<EngineEvent>,
    ) -> Arc<Files> {
        let (answers, answer_rx) = mpsc::unbounded_channel();
        let files = Arc::new(Files { channel, drained: Notify::new(), outgoing: Mutex::default(), answers, events });
        tokio::spawn(files.clone().serve(receiving, answer_rx));
        files
    }

    /// Take an offer this side was asked about ([`FileEvent::Offered`]). Ids this link does not have are
    /// ignored (a call's links share the command).
    pub fn accept(&self, id: u64) -> Result<()> {
        self.answers.send(Answer::Accept(id)).map_err(|_| EngineError::File("the call has ended".into()))
    }

    pub fn decline(&self, id: u64) -> Result<()> {
        self.answers.send(Answer::Decline(id)).map_err(|_| EngineError::File("the call has ended".into()))
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
        let (accepted_tx, accepted_rx) = oneshot::channel();
        let outgoing = Outgoing { cancel: cancel.clone(), accepted: Some(accepted_tx), verdict: Some(verdict_tx) };
        self.outgoing.lock().expect("lock").insert(id, outgoing);
        self.send_message(&FileMessage::Offer { id, name: name.clone(), size, waits: true }).await?;
        self.emit(FileEvent::Started { id, name, size, outgoing: true });
        let me = self.clone();
        tokio::spawn(async move {
            // Nothing is sent before the receiver takes it (a decline or a cancel drops the sender).
            let outcome = match tokio::time::timeout(ANSWER_WITHIN + Duration::from_secs(10), accepted_rx).await {
                Ok(Ok(())) => me.stream(id, file, size, &cancel).await,
                Ok(Err(_)) => Ok(String::new()),
                Err(_) => Err(EngineError::File("the other side did not answer the offer".into())),
            };
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
            Some(flag) => {
                flag.store(CANCELLED_HERE, Ordering::Release);
                // Still waiting for an answer: tell the receiver and stop waiting.
                let waiting = self.outgoing.lock().expect("lock").get_mut(&id).and_then(|o| o.accepted.take());
                if waiting.is_some() {
                    let reason = "cancelled by the sender".into();
                    self.send_message(&FileMessage::Cancel { id, reason }).await?;
                }
            }
            None => {
                self.answers.send(Answer::Cancel(id)).map_err(|_| EngineError::File("the call has ended".into()))?
            }
        }
        Ok(())
    }

    async fn serve(self: Arc<Self>, receiving: Receiving, mut answers: mpsc::UnboundedReceiver<Answer>) {
        let mut inbox = Inbox { pending: HashMap::new(), incoming: HashMap::new(), seen: Default::default() };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let event = tokio::select! {
                event = self.channel.poll() => event,
                Some(answer) = answers.recv() => {
                    self.on_answer(answer, &mut inbox, &receiving).await;
                    continue;
                }
                _ = tick.tick() => {
                    // Offers nobody answered in time are declined; transfers whose data stopped are given up.
                    let now = Instant::now();
                    let late: Vec<u64> = inbox.pending.iter().filter(|(_, p)| p.until <= now).map(|(id, _)| *id).collect();
                    for id in late {
                        inbox.pending.remove(&id);
                        self.refuse(id, "not accepted in time", &receiving.from).await;
                    }
                    let stalled: Vec<u64> = inbox
                        .incoming
                        .iter()
                        .filter(|(_, t)| now.duration_since(t.last_data) > STALLED_AFTER)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in stalled {
                        let t = inbox.incoming.remove(&id).expect("present");
                        self.abandon(id, t, "no data for 30 s").await;
                    }
                    continue;
                }
            };
            let Some(event) = event else { break };
            match event {
                DataChannelEvent::OnBufferedAmountLow => self.drained.notify_waiters(),
                DataChannelEvent::OnMessage(m) if m.is_string => match serde_json::from_slice::<FileMessage>(&m.data) {
                    Ok(msg) => self.on_message(msg, &mut inbox, &receiving).await,
                    Err(e) => tracing::warn!("bad file message: {e}"),
                },
                DataChannelEvent::OnMessage(m) => {
                    if m.data.len() < 8 {
                        continue;
                    }
                    let id = u64::from_be_bytes(m.data[..8].try_into().expect("8 bytes"));
                    // Chunks of a transfer not accepted (or already over) are dropped.
                    let Some(t) = inbox.incoming.get_mut(&id) else {
                        continue;
                    };
                    let data = &m.data[8..];
                    if t.received + data.len() as u64 > t.size {
                        let t = inbox.incoming.remove(&id).expect("present");
                        self.abandon(id, t, "more data than announced").await;
                        continue;
                    }
                    if let Err(e) = t.file.write_all(data).await {
                        let t = inbox.incoming.remove(&id).expect("present");
                        self.abandon(id, t, &format!("cannot write: {e}")).await;
                        continue;
                    }
                    t.hash.update(data);
                    t.received += data.len() as u64;
                    t.last_data = Instant::now();
                    if t.last_progress.elapsed() >= PROGRESS_EVERY {
                        t.last_progress = Instant::now();
                        self.emit(FileEvent::Progress { id, outgoing: false, bytes: t.received, total: t.size });
                    }
                }
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
        // The call ended mid-transfer: nothing half-written stays behind (each temp file's guard removes it).
        for (id, t) in inbox.incoming.drain() {
            drop(t);
            self.emit(FileEvent::Failed { id, outgoing: false, reason: "the call ended".into() });
        }
        for (id, _) in inbox.pending.drain() {
            self.emit(FileEvent::Failed { id, outgoing: false, reason: "the call ended".into() });
        }
        for (_, o) in self.outgoing.lock().expect("lock").iter() {
            o.cancel.store(CANCELLED_HERE, Ordering::Release);
        }
    }

    async fn abandon(&self, id: u64, t: Incoming, reason: &str) {
        drop(t);
        let _ = self.send_message(&FileMessage::Cancel { id, reason: reason.to_owned() }).await;
        self.emit(FileEvent::Failed { id, outgoing: false, reason: reason.to_owned() });
    }

    /// Decline an offer from `from`, telling the sender why.
    async fn refuse(&self, id: u64, reason: &str, from: &str) {
        let _ = self.send_message(&FileMessage::Cancel { id, reason: reason.to_owned() }).await;
        self.emit(FileEvent::Declined { id, reason: reason.to_owned(), peer: from.to_owned() });
    }

    async fn on_answer(&self, answer: Answer, inbox: &mut Inbox, receiving: &Receiving) {
        match answer {
            Answer::Accept(id) => {
                if let Some(p) = inbox.pending.remove(&id) {
                    self.take(id, p.name, p.size, inbox, receiving).await;
                }
            }
            Answer::Decline(id) => {
                if inbox.pending.remove(&id).is_some() {
                    self.refuse(id, "declined", &receiving.from).await;
                }
            }
            Answer::Cancel(id) => {
                if let Some(t) = inbox.incoming.remove(&id) {
                    drop(t);
                    let reason = "cancelled by the receiver".into();
                    let _ = self.send_message(&FileMessage::Cancel { id, reason }).await;
                    self.emit(FileEvent::Cancelled { id, outgoing: false, by_peer: false });
                } else if inbox.pending.remove(&id).is_some() {
                    self.refuse(id, "declined", &receiving.from).await;
                }
            }
        }
    }

    /// Accept an offer: check the space (less what the call's other accepted transfers will still write),
    /// create the temporary file, ask for the chunks.
    async fn take(&self, id: u64, name: String, size: u64, inbox: &mut Inbox, receiving: &Receiving) {
        let (dir, from) = (&receiving.dir, &receiving.from);
        // The folder is made when a file is taken, not before (a fresh home may have no Downloads yet).
        let _ = tokio::fs::create_dir_all(dir).await;
        let promised = receiving.reserved.fetch_add(size, Ordering::AcqRel);
        let space = Reservation { pool: receiving.reserved.clone(), bytes: size };
        if let Some(free) = free_space(dir)
            && free.saturating_sub(promised) < size.saturating_add(SPACE_MARGIN)
        {
            let reason = format!(
                "not enough space: {} free ({} of it promised to other files), {} needed",
                bytes_text(free),
                bytes_text(promised),
                bytes_text(size)
            );
            return self.refuse(id, &reason, from).await;
        }
        let temp = dir.join(format!(".{name}.{id:016x}.part"));
        let file = match tokio::fs::OpenOptions::new().write(true).create_new(true).open(&temp).await {
            Ok(file) => file,
            Err(e) => {
                let reason = format!("cannot save in {}: {e}", dir.display());
                return self.refuse(id, &reason, from).await;
            }
        };
        let temp = Temp { path: temp, kept: false };
        if let Err(e) = self.send_message(&FileMessage::Accept { id }).await {
            return tracing::debug!("cannot accept a file: {e}");
        }
        self.emit(FileEvent::Started { id, name: name.clone(), size, outgoing: false });
        let now = Instant::now();
        let t = Incoming {
            name,
            size,
            received: 0,
            file,
            temp,
            hash: Sha256::new(),
            last_progress: now,
            last_data: now,
            _space: space,
        };
        inbox.incoming.insert(id, t);
    }

    async fn on_message(&self, msg: FileMessage, inbox: &mut Inbox, receiving: &Receiving) {
        match msg {
            FileMessage::Offer { id, name, size, waits } => {
                let name = safe_file_name(&name);
                let from = receiving.from.as_str();
                if !waits {
                    let reason = "the sender's Tincan sends files without asking first; it needs an update";
                    return self.refuse(id, reason, from).await;
                }
                if inbox.seen.contains(&id) {
                    return self.refuse(id, "that transfer id was used before", from).await;
                }
                if inbox.seen.len() == IDS_REMEMBERED {
                    inbox.seen.pop_front();
                }
                inbox.seen.push_back(id);
                if inbox.pending.len() + inbox.incoming.len() >= MAX_INCOMING {
                    return self.refuse(id, "too many files at once; send it when the others are done", from).await;
                }
                if size > receiving.max_size {
                    let reason = format!("too large: the limit is {}", bytes_text(receiving.max_size));
                    return self.refuse(id, &reason, from).await;
                }
                match receiving.policy {
                    FilePolicy::Decline => self.refuse(id, "this side does not take files", from).await,
                    FilePolicy::Accept => self.take(id, name, size, inbox, receiving).await,
                    FilePolicy::Ask => {
                        self.emit(FileEvent::Offered { id, name: name.clone(), size, peer: from.to_owned() });
                        inbox.pending.insert(id, Pending { name, size, until: Instant::now() + ANSWER_WITHIN });
                    }
                }
            }
            FileMessage::Accept { id } => {
                let waiting = self.outgoing.lock().expect("lock").get_mut(&id).and_then(|o| o.accepted.take());
                if let Some(accepted) = waiting {
                    let _ = accepted.send(());
                }
            }
            FileMessage::Done { id, sha256 } => {
                let Some(mut t) = inbox.incoming.remove(&id) else {
                    return;
                };
                let _ = t.file.flush().await;
                let ours = hex(&t.hash.clone().finalize());
                let ok = ours == sha256 && t.received == t.size;
                let _ = self.send_message(&FileMessage::Result { id, ok, sha256: ours.clone() }).await;
                if !ok {
                    let reason = format!(
                        "corrupted: got {} of {} bytes, SHA-256 {ours} instead of {sha256}",
                        t.received, t.size
                    );
                    drop(t);
                    return self.emit(FileEvent::Failed { id, outgoing: false, reason });
                }
                let path = free_path(&receiving.dir, &t.name);
                match tokio::fs::rename(&t.temp.path, &path).await {
                    Ok(()) => {
                        t.temp.kept = true;
                        self.emit(FileEvent::Completed { id, outgoing: false, path: Some(path), sha256: ours })
                    }
                    Err(e) => self.emit(FileEvent::Failed {
                        id,
                        outgoing: false,
                        reason: format!("cannot keep the file: {e}"),
                    }),
                }
            }
            FileMessage::Cancel { id, .. } => {
                if inbox.incoming.remove(&id).is_some() || inbox.pending.remove(&id).is_some() {
                    self.emit(FileEvent::Cancelled { id, outgoing: false, by_peer: true });
                }
                let mut out = self.outgoing.lock().expect("lock");
                if let Some(o) = out.get_mut(&id) {
                    o.cancel.store(CANCELLED_BY_PEER, Ordering::Release);
                    // A decline: stop waiting for the answer.
                    o.accepted.take();
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

/// `12.3 MB`.
fn bytes_text(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n => format!("{:.0} KB", n as f64 / 1024.0),
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
        assert_eq!(safe_file_name("a\u{0}b"), "a_b");
    }

    #[test]
    fn names_say_what_they_are() {
        // A right-to-left override (U+202E) would show "invoice<RLO>fdp.exe" as "invoiceexe.pdf".
        assert_eq!(safe_file_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        // A newline would hide the real extension on the next line.
        assert_eq!(safe_file_name("report.pdf\n.desktop"), "report.pdf_.desktop");
        // Long names are cut in the stem, the extension stays, within 255 bytes with the temporary suffix.
        let long = format!("{}.tar.gz", "x".repeat(250));
        let safe = safe_file_name(&long);
        assert!(safe.ends_with(".gz") && safe.len() <= MAX_NAME_BYTES, "{safe}");
        let accents = "é".repeat(120);
        let safe = safe_file_name(&format!("{accents}.txt"));
        assert!(safe.ends_with("é.txt") && safe.len() <= MAX_NAME_BYTES && safe.len() + 23 <= 255, "{}", safe.len());
        assert_eq!(safe_file_name("\u{200B}\u{202E}"), "received-file");
    }

    #[test]
    fn a_temporary_file_goes_unless_kept() {
        let dir = std::env::temp_dir().join(format!("tincan-temp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (gone, kept) = (dir.join("gone.part"), dir.join("kept.part"));
        std::fs::write(&gone, "x").unwrap();
        std::fs::write(&kept, "x").unwrap();
        drop(Temp { path: gone.clone(), kept: false });
        drop(Temp { path: kept.clone(), kept: true });
        assert!(!gone.exists() && kept.exists());
        assert!(free_space(&dir).is_some_and(|b| b > 0));
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
