// The Tincan signaling protocol (docs/signaling.md) over the server's own WebSocket: hello, join, relay
// offers/answers/candidates. One connection per page; events go to `on(type, handler)`.
export const PROTOCOL_VERSION = 1;
const CLIENT = 'tincan-guest 0.1.0';

export class Signaling {
  constructor() {
    this.handlers = new Map();
    this.welcome = null;
  }

  on(type, handler) {
    this.handlers.set(type, handler);
  }

  emit(type, message) {
    const handler = this.handlers.get(type);
    if (handler) handler(message);
  }

  /** Connects and says hello; resolves with the server's `welcome`. */
  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.ws = new WebSocket(`${scheme}://${location.host}/ws`);
    return new Promise((resolve, reject) => {
      this.ws.onopen = () => this.send({ type: 'hello', version: PROTOCOL_VERSION, client: CLIENT });
      this.ws.onerror = () => reject(new Error('The signaling server cannot be reached.'));
      this.ws.onclose = () => this.emit('closed', {});
      this.ws.onmessage = (e) => {
        let message;
        try {
          message = JSON.parse(e.data);
        } catch {
          return;
        }
        if ((message.type === 'joined' || message.type === 'relay') && message.ice_servers) {
          // TURN credentials come with the room, not with the connection, and fresh ones every half their life
          // (for connections made from then on: a live one keeps the credential its relay was allocated with).
          this.relays = message.ice_servers;
        }
        if (message.type === 'welcome') {
          this.welcome = message;
          // Browsers hide WebSocket pings; the server also accepts `ping` messages as a sign of life.
          this.keepalive = setInterval(() => this.send({ type: 'ping' }), (message.limits?.heartbeat_secs ?? 20) * 1000);
          resolve(message);
        } else if (message.type === 'error' && !this.welcome) {
          reject(new Error(message.message));
        }
        this.emit(message.type, message);
      };
    });
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  join(room, create, name, capacity) {
    this.send({ type: 'join', room, create, name, capacity });
  }

  signal(to, kind, data) {
    this.send({ type: 'signal', to, kind, data });
  }

  /** ICE servers in the browser's shape: the welcome's STUN, and the TURN credentials minted with `joined`. */
  iceServers() {
    return [...(this.welcome?.ice_servers ?? []), ...(this.relays ?? [])].map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
  }

  close() {
    clearInterval(this.keepalive);
    this.send({ type: 'leave' });
    this.ws?.close();
  }
}
