//! A connection's outgoing queue, bounded in messages and in bytes: a client that stops reading costs the
//! server at most [`MAX_BYTES`] queued (plus its socket buffers) before it is dropped as a slow consumer.
//! Serialized messages are shared between recipients (`Utf8Bytes`), so the bytes counted are the messages'
//! lengths, an upper bound of what the queue itself holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Messages a queue holds.
pub const MAX_MESSAGES: usize = 256;
/// Bytes a queue holds (a single message always fits in an empty queue).
pub const MAX_BYTES: usize = 1 << 20;

/// Queued bytes of every connection, and the most there ever were (`/metrics`).
#[derive(Default)]
pub struct QueuedBytes {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl QueuedBytes {
    pub fn now(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        let now = self.now.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.now.fetch_sub(n, Ordering::Relaxed);
    }
}

/// The sending side (the backend delivers into it).
#[derive(Clone)]
pub struct Mailbox {
    tx: mpsc::Sender<Utf8Bytes>,
    queued: Arc<AtomicUsize>,
    total: Arc<QueuedBytes>,
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undelivered {
    /// The connection is not reading: drop it.
    Full,
    /// The connection is gone.
    Closed,
}

/// The connection's side.
pub struct Queue {
    rx: mpsc::Receiver<Utf8Bytes>,
    queued: Arc<AtomicUsize>,
    total: Arc<QueuedBytes>,
}

/// A new mailbox counted into `total`.
pub fn mailbox(total: Arc<QueuedBytes>) -> (Mailbox, Queue) {
    let (tx, rx) = mpsc::channel(MAX_MESSAGES);
    let queued = Arc::new(AtomicUsize::new(0));
    (Mailbox { tx, queued: queued.clone(), total: total.clone() }, Queue { rx, queued, total })
}

impl Mailbox {
    pub fn try_send(&self, message: Utf8Bytes) -> Result<(), Undelivered> {
        let len = message.len();
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > MAX_BYTES {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(Undelivered::Full);
        }
        // Counted in all before it can be taken off the queue (so the sum never goes below zero).
        self.total.add(len);
        match self.tx.try_send(message) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.total.sub(len);
                self.queued.fetch_sub(len, Ordering::AcqRel);
                Err(match e {
                    TrySendError::Full(_) => Undelivered::Full,
                    TrySendError::Closed(_) => Undelivered::Closed,
                })
            }
        }
    }
}

impl Queue {
    /// The next message; `None` once the backend dropped the mailbox (the connection is to close).
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        let message = self.rx.recv().await?;
        self.queued.fetch_sub(message.len(), Ordering::AcqRel);
        self.total.sub(message.len());
        Some(message)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // What was never sent no longer counts.
        self.rx.close();
        while let Ok(m) = self.rx.try_recv() {
            self.queued.fetch_sub(m.len(), Ordering::AcqRel);
            self.total.sub(m.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_in_bytes_and_given_back() {
        let total = Arc::new(QueuedBytes::default());
        let (mailbox, mut queue) = mailbox(total.clone());
        let big = Utf8Bytes::from("x".repeat(300 * 1024));
        for _ in 0..3 {
            mailbox.try_send(big.clone()).unwrap();
        }
        assert_eq!(mailbox.try_send(big.clone()), Err(Undelivered::Full), "a fourth 300 KiB goes over 1 MiB");
        assert_eq!(total.now(), 900 * 1024);
        queue.recv().await.unwrap();
        mailbox.try_send(big.clone()).unwrap();
        // One message always fits in an empty queue, however large.
        let (huge_box, huge_queue) = super::mailbox(total.clone());
        huge_box.try_send(Utf8Bytes::from("y".repeat(2 << 20))).unwrap();
        drop(huge_queue);
        drop(queue);
        assert_eq!(total.now(), 0, "dropped queues give their bytes back");
        assert_eq!(total.peak(), 900 * 1024 + (2 << 20));
        assert_eq!(mailbox.try_send(big), Err(Undelivered::Closed));
    }
}
