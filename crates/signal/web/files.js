// File transfer on the `files` channel, the same wire format as the app (crates/engine/src/data/files.rs):
// JSON text messages (offer, accept, done, cancel, result) and binary chunks = 8-byte big-endian transfer id + data.
// Nothing is sent before the receiver accepts (offers say so: `waits: true`); a decline is a cancel.
const CHUNK = 64 * 1024 - 8;
const HIGH_WATER = 4 << 20;
/** A browser keeps what it receives in memory until saved: refuse what would not fit comfortably (in all). */
const MAX_INCOMING = 1 << 30;

export async function sha256Hex(blobOrBuffer) {
  const buffer = blobOrBuffer instanceof Blob ? await blobOrBuffer.arrayBuffer() : blobOrBuffer;
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Files {
  /** `events` gets {kind: 'progress'|'received'|'sent'|'failed', ...}. */
  constructor(channel, events) {
    this.channel = channel;
    this.events = events;
    this.incoming = new Map();
    this.outgoing = new Map();
    this.nextId = Math.floor(Math.random() * 2 ** 31) * 2 ** 20;
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = 1 << 20;
    channel.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(data) {
    if (typeof data !== 'string') return this.onChunk(data);
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    const id = m.id;
    if (m.type === 'offer') {
      // Everything received is held in memory: at most four at once, and 1 GiB together.
      const held = [...this.incoming.values()].reduce((sum, t) => sum + t.size, 0);
      if (this.incoming.has(id) || this.incoming.size >= 4 || !(m.size <= MAX_INCOMING - held)) {
        this.send({ type: 'cancel', id, reason: 'the browser guest cannot take this file now (too large, or too many at once)' });
        this.events({ kind: 'failed', name: String(m.name), why: 'too large, or too many at once, for the browser' });
        return;
      }
      this.incoming.set(id, { name: String(m.name), size: m.size, parts: [], received: 0, started: performance.now() });
      // A browser keeps it in memory; the guest saves it (or not) from the link it gets.
      this.send({ type: 'accept', id });
    } else if (m.type === 'accept') {
      this.outgoing.get(id)?.accept?.();
    } else if (m.type === 'done') {
      const t = this.incoming.get(id);
      if (!t) return;
      this.incoming.delete(id);
      const blob = new Blob(t.parts);
      sha256Hex(blob).then((sha256) => {
        const ok = sha256 === m.sha256 && blob.size === t.size;
        this.send({ type: 'result', id, ok, sha256 });
        this.events(ok ? { kind: 'received', name: t.name, size: blob.size, sha256, blob, ms: performance.now() - t.started }
          : { kind: 'failed', name: t.name, why: 'the file arrived damaged' });
      });
    } else if (m.type === 'cancel') {
      const t = this.incoming.get(id);
      this.incoming.delete(id);
      const out = this.outgoing.get(id);
      if (out) {
        out.cancelled = true;
        out.accept?.();
      }
      this.outgoing.delete(id);
      this.events({ kind: 'failed', name: t?.name ?? out?.name ?? 'file', why: m.reason });
    } else if (m.type === 'result') {
      const out = this.outgoing.get(id);
      this.outgoing.delete(id);
      if (out) this.events(m.ok ? { kind: 'sent', name: out.name, sha256: m.sha256 } : { kind: 'failed', name: out.name, why: 'it arrived damaged' });
    }
  }

  onChunk(buffer) {
    if (buffer.byteLength < 8) return;
    const view = new DataView(buffer);
    const id = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
    const t = this.incoming.get(id);
    if (!t) return;
    if (t.received + buffer.byteLength - 8 > t.size) {
      // More than the offer said: refuse rather than keep filling memory.
      this.incoming.delete(id);
      this.send({ type: 'cancel', id, reason: 'more data than the offered size' });
      this.events({ kind: 'failed', name: t.name, why: 'the sender sent more than it offered' });
      return;
    }
    t.parts.push(buffer.slice(8));
    t.received += buffer.byteLength - 8;
    this.events({ kind: 'progress', name: t.name, done: t.received, size: t.size });
  }

  send(message) {
    if (this.channel.readyState === 'open') this.channel.send(JSON.stringify(message));
  }

  async sendFile(file) {
    const id = this.nextId++;
    const out = { name: file.name, cancelled: false };
    const accepted = new Promise((resolve) => { out.accept = resolve; });
    this.outgoing.set(id, out);
    this.send({ type: 'offer', id, name: file.name, size: file.size, waits: true });
    // Nothing is sent before the other side takes it (a decline arrives as a cancel).
    const answered = await Promise.race([accepted.then(() => true), new Promise((r) => setTimeout(() => r(false), 130000))]);
    if (!answered) {
      this.outgoing.delete(id);
      this.events({ kind: 'failed', name: file.name, why: 'the other side did not answer' });
      return;
    }
    let at = 0;
    while (at < file.size && !out.cancelled) {
      if (this.channel.readyState !== 'open') {
        this.outgoing.delete(id);
        this.events({ kind: 'failed', name: file.name, why: 'the call ended' });
        return;
      }
      if (this.channel.bufferedAmount > HIGH_WATER) {
        // Also woken when the channel closes, so a transfer never waits forever.
        await new Promise((r) => { this.channel.onbufferedamountlow = r; this.channel.onclose = r; });
        continue;
      }
      const data = new Uint8Array(await file.slice(at, at + CHUNK).arrayBuffer());
      const chunk = new Uint8Array(8 + data.length);
      const view = new DataView(chunk.buffer);
      view.setUint32(0, Math.floor(id / 2 ** 32));
      view.setUint32(4, id % 2 ** 32);
      chunk.set(data, 8);
      this.channel.send(chunk);
      at += CHUNK;
      this.events({ kind: 'progress', name: file.name, done: Math.min(at, file.size), size: file.size });
    }
    if (!out.cancelled) this.send({ type: 'done', id, sha256: await sha256Hex(file) });
  }
}
