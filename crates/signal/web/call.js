// One browser peer connection to one Tincan peer, speaking what the app speaks: offer/answer/candidates over
// signaling, pre-negotiated data channels `control` (id 0: chat, receipts, mute state, bye) and `files`
// (id 2), audio (Opus) and video (VP8 or H.264).
import { Files } from './files.js';

const CONTROL_STREAM = 0;
const FILES_STREAM = 2;

/** Video codecs in the order wanted: `preferred` (e.g. 'h264') first, the rest as the browser lists them. */
function orderedVideoCodecs(preferred) {
  const codecs = RTCRtpReceiver.getCapabilities?.('video')?.codecs ?? [];
  if (!preferred) return codecs;
  const wanted = `video/${preferred}`.toLowerCase();
  const first = codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  return first.length ? [...first, ...codecs.filter((c) => c.mimeType.toLowerCase() !== wanted)] : codecs;
}

export class GuestCall {
  /**
   * `hooks`: state(text, phase), remoteStream(stream), control(message), files(event).
   * `options`: { iceServers, relayOnly, codec, local: MediaStream|null }.
   */
  constructor(signaling, peerId, options, hooks) {
    this.signaling = signaling;
    this.peerId = peerId;
    this.options = options;
    this.hooks = hooks;
    this.pendingCandidates = [];
    this.remoteStream = new MediaStream();
    // Sections our shares went on (never reused for another: see placeShare), and what the user turned off.
    this.sharedOn = new WeakSet();
    this.turnedOff = new Set();
    const pc = new RTCPeerConnection({
      iceServers: options.iceServers,
      iceTransportPolicy: options.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    });
    this.pc = pc;
    this.control = pc.createDataChannel('control', { negotiated: true, id: CONTROL_STREAM, ordered: true });
    this.control.onmessage = (e) => {
      try {
        hooks.control(JSON.parse(e.data));
      } catch {
        // Not JSON: ignored, as the app ignores it.
      }
    };
    this.control.onopen = () => {
      // A request for an offer made before the channel was open goes now.
      if (this.askWhenOpen !== undefined) {
        this.control.send(JSON.stringify({ type: 'offer_wanted', receive_video: this.askWhenOpen }));
        this.askWhenOpen = undefined;
      }
      hooks.control({ type: 'open' });
    };
    this.files = new Files(pc.createDataChannel('files', { negotiated: true, id: FILES_STREAM, ordered: true }), hooks.files);
    pc.onicecandidate = (e) => {
      if (e.candidate) this.signal('candidate', e.candidate.toJSON());
      else this.signal('end_of_candidates', {});
    };
    pc.ontrack = (e) => {
      // The other side's first video section is its camera; a later one is a screen share (the app adds
      // its share after its camera; so does this page).
      const videos = pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video');
      if (e.track.kind === 'video' && videos.indexOf(e.transceiver) > 0) {
        hooks.remoteShare?.(new MediaStream([e.track]));
        return;
      }
      this.remoteStream.addTrack(e.track);
      hooks.remoteStream(this.remoteStream);
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === 'connected') hooks.state('In the call', 'connected');
      else if (s === 'disconnected') hooks.state('Connection interrupted — reconnecting…', 'reconnecting');
      else if (s === 'failed') hooks.state('The connection failed.', 'ended');
    };
  }

  signal(kind, data) {
    this.signaling.signal(this.peerId, kind, data);
  }

  localTrack(kind) {
    return this.options.local?.getTracks().find((t) => t.kind === kind) ?? null;
  }

  preferCodec(transceiver) {
    const codecs = orderedVideoCodecs(this.options.codec);
    if (codecs.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences(codecs);
  }

  /** We joined a room someone was already in: we offer (now and for every renegotiation). */
  async offer() {
    this.offerer = true;
    this.negotiating = true; // set at once: a renegotiation asked for meanwhile waits for the answer
    for (const kind of ['audio', 'video']) {
      const track = this.localTrack(kind);
      const streams = this.options.local ? [this.options.local] : [];
      const t = this.pc.addTransceiver(track ?? kind, { direction: track ? 'sendrecv' : 'recvonly', streams });
      if (kind === 'video') this.preferCodec(t);
    }
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.signal('offer', this.pc.localDescription.toJSON());
  }

  /** A new offer on a connection that is up (our share added or removed, or the other side asked for one
   * with `receiveVideo` more video sections to receive its share on). Offers never cross: only the link's
   * offerer offers; the answerer asks it to (`offer_wanted` on the control channel). */
  async renegotiate(receiveVideo = 0) {
    if (!this.offerer) {
      if (this.control.readyState === 'open') this.sendControl({ type: 'offer_wanted', receive_video: receiveVideo });
      else this.askWhenOpen = Math.max(this.askWhenOpen ?? 0, receiveVideo);
      return;
    }
    // One offer at a time (marked before any await, so two calls cannot both pass).
    if (this.negotiating || this.pc.signalingState !== 'stable') {
      this.pendingRenegotiation = Math.max(this.pendingRenegotiation ?? 0, receiveVideo);
      return;
    }
    this.negotiating = true;
    // However often the other side asks, a few video sections at most.
    const videos = this.pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video').length;
    for (let i = videos; i < Math.min(videos + receiveVideo, 4); i++) this.pc.addTransceiver('video', { direction: 'recvonly' });
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.signal('offer', this.pc.localDescription.toJSON());
  }

  /** Share a screen (from getDisplayMedia) beside the camera, on a video section after the camera's (the
   * other side tells a share by that; `addTrack` would put it on the camera's when we have no camera), then
   * a new offer and answer. An answerer cannot add a section: it asks the offerer for one and shares on it
   * when the offer comes. */
  async share(stream) {
    await this.stopShare(false);
    this.shareStream = stream;
    if (await this.placeShare()) await this.renegotiate(0);
    else if (this.shareStream !== stream) return; // stopped meanwhile
    else if (this.offerer) {
      const t = this.pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendrecv', streams: [stream] });
      this.preferCodec(t);
      this.sharedOn.add(t);
      this.shareSender = t.sender;
      await this.renegotiate(0);
    } else await this.renegotiate(1);
  }

  /** Put the share waiting in `shareStream` on a free video section after the camera's; whether there was one.
   * Not on one that carried a share before: its sender keeps its track id, and the other side takes a
   * track it has seen before for the share that ended. */
  async placeShare() {
    const videos = this.pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video');
    const free = videos
      .slice(1)
      .find((t) => !t.sender.track && !this.sharedOn.has(t) && t.direction !== 'stopped' && t.currentDirection !== 'stopped');
    const stream = this.shareStream;
    if (!stream || this.shareSender || !free) return false;
    this.shareSender = free.sender;
    await free.sender.replaceTrack(stream.getVideoTracks()[0]);
    if (this.shareStream !== stream) {
      // Stopped meanwhile.
      await free.sender.replaceTrack(null);
      return false;
    }
    free.sender.setStreams?.(stream);
    free.direction = 'sendrecv';
    this.sharedOn.add(free);
    return true;
  }

  async stopShare(renegotiate = true) {
    const had = this.shareStream;
    this.shareStream = null;
    if (this.shareSender) {
      this.pc.removeTrack(this.shareSender);
      this.shareSender = null;
    }
    if (had && renegotiate) await this.renegotiate(0);
  }

  async onSignal(kind, data) {
    if (kind === 'offer' || kind === 'ice_restart') {
      await this.pc.setRemoteDescription(data);
      for (const t of this.pc.getTransceivers()) {
        const kindOf = t.receiver.track.kind;
        const track = this.localTrack(kindOf);
        // The camera and microphone go on the first section of their kind only (later ones: shares), and
        // not when the user turned them off.
        const first = this.pc.getTransceivers().find((x) => x.receiver.track.kind === kindOf);
        if (track && t === first && !t.sender.track && !this.turnedOff.has(kindOf)) {
          await t.sender.replaceTrack(track);
          if (this.options.local) t.sender.setStreams?.(this.options.local);
          t.direction = 'sendrecv';
        }
        if (kindOf === 'video') this.preferCodec(t);
      }
      // A share waiting for a section (we asked the offerer for one) goes on it.
      await this.placeShare();
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      this.signal('answer', this.pc.localDescription.toJSON());
      await this.flushCandidates();
    } else if (kind === 'answer') {
      await this.pc.setRemoteDescription(data);
      this.negotiating = false;
      await this.flushCandidates();
      if (this.pendingRenegotiation !== undefined) {
        const n = this.pendingRenegotiation;
        this.pendingRenegotiation = undefined;
        await this.renegotiate(n);
      }
    } else if (kind === 'candidate') {
      if (this.pc.remoteDescription) await this.addCandidate(data);
      else this.pendingCandidates.push(data);
    }
  }

  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (e) {
      console.warn('remote candidate refused', e);
    }
  }

  async flushCandidates() {
    const pending = this.pendingCandidates.splice(0);
    for (const c of pending) await this.addCandidate(c);
  }

  sendControl(message) {
    if (this.control.readyState === 'open') this.control.send(JSON.stringify(message));
  }

  /** Send `kind` or stop sending it (a null track: no packets at all, not silence). */
  async setSending(kind, enabled) {
    if (enabled) this.turnedOff.delete(kind);
    else this.turnedOff.add(kind);
    const t = this.pc.getTransceivers().find((t) => t.receiver.track.kind === kind);
    if (t) await t.sender.replaceTrack(enabled ? this.localTrack(kind) : null);
  }

  /** Statistics the page and the tests read: decoded/encoded frames, codecs, the selected candidate pair. */
  async stats() {
    const report = await this.pc.getStats();
    // `video` is the camera's section (the first video one); a share's figures go to `share`.
    const out = { video: {}, audio: {}, share: {}, pair: null };
    const cameraMid = this.pc.getTransceivers().find((t) => t.receiver.track.kind === 'video')?.mid;
    const place = (s) => (s.kind === 'video' && s.mid != null && cameraMid != null && s.mid !== cameraMid ? out.share : out[s.kind]);
    const codecs = new Map();
    report.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s.mimeType); });
    report.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        Object.assign(place(s), { framesDecoded: s.framesDecoded, packetsReceived: s.packetsReceived,
          totalSamplesReceived: s.totalSamplesReceived, codecIn: codecs.get(s.codecId), width: s.frameWidth, height: s.frameHeight });
      } else if (s.type === 'outbound-rtp') {
        Object.assign(place(s), { framesEncoded: s.framesEncoded, packetsSent: s.packetsSent, codecOut: codecs.get(s.codecId) });
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        const local = report.get(s.localCandidateId);
        const remote = report.get(s.remoteCandidateId);
        out.pair = { local: local?.candidateType, remote: remote?.candidateType, rtt: s.currentRoundTripTime };
      }
    });
    return out;
  }

  sayBye() {
    this.sendControl({ type: 'bye' });
  }

  close() {
    this.pc.close();
  }
}
