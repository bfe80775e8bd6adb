// The guest call page at /r/CODE: joins the room with the browser's own WebRTC. Query: `name`, `create=1`
// (start the room if nobody is there), `codec=vp8|h264` (preferred video codec), `relay=1` (TURN only).
import { Signaling } from './signaling.js';
import { GuestCall } from './call.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const room = (() => {
  const raw = location.pathname.replace(/^\/r\//, '');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw; // a malformed %-escape: the server will say the code is not valid
  }
})();
const name = (params.get('name') || localStorage.getItem('tincan-guest-name') || 'Guest').slice(0, 64);

/** What the page knows, also read by the end-to-end tests and benchmarks (`marks`: ms since the join). */
const guest = { phase: 'starting', status: '', chats: [], files: [], peerName: null, remoteMedia: { audio: true, video: true }, marks: {} };
let joinedAt = null;
const mark = (name) => { if (joinedAt !== null && guest.marks[name] === undefined) guest.marks[name] = performance.now() - joinedAt; };
window.tincanGuest = guest;

function status(text, phase) {
  guest.status = text;
  if (phase) guest.phase = phase;
  $('status').textContent = text;
}

function addMessage(text, mine) {
  const li = document.createElement('li');
  li.textContent = text;
  if (mine) li.className = 'mine';
  $('messages').append(li);
  li.scrollIntoView({ block: 'end' });
}

async function localMedia() {
  if (!navigator.mediaDevices?.getUserMedia) {
    addMessage('This browser only lends its camera and microphone to secure (https) pages: you can see and hear, not be seen.');
    return null;
  }
  const [width, height] = (params.get('video') || '640x480').split('x').map(Number);
  for (const constraints of [{ audio: true, video: { width, height, frameRate: 30 } }, { audio: true }]) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (e) {
      console.warn('getUserMedia', constraints, e);
    }
  }
  addMessage('No camera or microphone could be used: you can see and hear the others, not be seen or heard.');
  return null;
}

const signaling = new Signaling();
let call = null;
let local = null;

function ended(text) {
  status(text, 'ended');
  call?.close();
  call = null;
  signaling.close();
  for (const t of local?.getTracks() ?? []) t.stop();
}

function startCall(peerId, offerer, iceServers) {
  call = new GuestCall(signaling, peerId, { iceServers, relayOnly: params.get('relay') === '1', codec: params.get('codec'), local }, {
    state: (text, phase) => (phase === 'ended' ? ended(text) : status(text, phase)),
    remoteStream: (stream) => {
      if ($('remote').srcObject === stream) return;
      $('remote').srcObject = stream;
      const first = () => mark('firstFrame');
      if ($('remote').requestVideoFrameCallback) $('remote').requestVideoFrameCallback(first);
      else $('remote').addEventListener('loadeddata', first, { once: true });
    },
    control: onControl,
    files: onFile,
  });
  status('Connecting…', 'connecting');
  if (offerer) call.offer().catch((e) => ended(`Could not start the call: ${e.message}`));
}

function onControl(m) {
  if (m.type === 'open') mark('dataOpen');
  if (m.type === 'chat' && typeof m.text === 'string') {
    guest.chats.push({ from: 'them', text: m.text });
    addMessage(`${guest.peerName ?? 'Them'}: ${m.text}`);
    call?.sendControl({ type: 'chat_received', id: m.id });
  } else if (m.type === 'media_state') {
    guest.remoteMedia = { audio: !!m.audio, video: !!m.video };
    $('remote').classList.toggle('camera-off', !m.video);
    if (!m.video) addMessage(`${guest.peerName ?? 'They'} turned the camera off.`);
  } else if (m.type === 'bye') {
    ended(`${guest.peerName ?? 'The other side'} hung up.`);
  }
}

function onFile(e) {
  if (e.kind === 'received') {
    // e.ms: from the offer to the verified file.
    guest.files.push({ name: e.name, size: e.size, sha256: e.sha256, ms: e.ms });
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(e.blob); // kept for the page's life: the link may be clicked any time
    a.download = e.name;
    a.textContent = `Save ${e.name} (${e.size} bytes)`;
    li.append(a);
    $('files').append(li);
  } else if (e.kind === 'sent') {
    addMessage(`Sent ${e.name}.`, true);
  } else if (e.kind === 'failed') {
    addMessage(`${e.name}: ${e.why}`);
  }
}

signaling.on('joined', (m) => {
  $('room').textContent = m.room;
  history.replaceState(null, '', `/r/${m.room}${location.search}`);
  const peer = m.peers[0];
  if (peer) {
    guest.peerName = peer.name ?? null;
    startCall(peer.id, true, signaling.iceServers());
  } else {
    status('Waiting for the others to join…', 'waiting');
  }
});
signaling.on('peer_joined', (m) => {
  guest.peerName = m.peer.name ?? guest.peerName;
  if (call) {
    // The other side came back on a new connection (its network changed): address it there.
    call.peerId = m.peer.id;
    return;
  }
  startCall(m.peer.id, false, signaling.iceServers());
});
signaling.on('peer_left', (m) => {
  // Once connected, media is peer to peer: a bye or the connection failing ends the call, not the room (the
  // other side may be reconnecting to the server).
  if (call && m.peer_id !== call.peerId) return;
  if (!['connected', 'reconnecting'].includes(guest.phase)) ended('The other side left.');
});
signaling.on('signal', (m) => {
  if (call && m.from === call.peerId) call.onSignal(m.kind, m.data).catch((e) => console.warn('signal', m.kind, e));
});
signaling.on('error', (m) => {
  if (m.code === 'room_not_found') {
    status(`Nobody is in room ${room} yet.`, 'not_found');
    const start = document.createElement('button');
    start.textContent = 'Start it and wait';
    start.onclick = () => { start.remove(); signaling.join(room, true, name); };
    $('status').append(' ', start);
  } else if (['bad_room_code', 'room_full', 'already_in_room', 'rate_limited', 'unsupported_version'].includes(m.code)) {
    ended(m.message);
  } else {
    console.warn('server error', m);
  }
});
signaling.on('closed', () => {
  if (guest.phase === 'connected') addMessage('Lost the signaling server; the call goes on.');
  else if (guest.phase !== 'ended') ended('The signaling server closed the connection.');
});

$('chat').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (text) window.tincanGuest.sendChat(text);
  $('text').value = '';
});
guest.sendChat = (text) => {
  if (!call) return false;
  call.sendControl({ type: 'chat', id: crypto.randomUUID(), text, sent_at_ms: Date.now() });
  guest.chats.push({ from: 'me', text });
  addMessage(text, true);
  return true;
};
guest.stats = () => call?.stats();
guest.peerConnection = () => call?.pc;
/** Send `megabytes` of generated data as a file (benchmarks). */
guest.sendGenerated = (megabytes) => {
  const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 13);
  const file = new File(Array.from({ length: megabytes }, () => chunk), `generated-${megabytes}MB.bin`);
  return call?.files.sendFile(file);
};

const sending = { audio: true, video: true };
async function toggle(kind, button, on, off) {
  sending[kind] = !sending[kind];
  button.textContent = sending[kind] ? on : off;
  button.setAttribute('aria-pressed', String(sending[kind]));
  await call?.setSending(kind, sending[kind]);
  call?.sendControl({ type: 'media_state', audio: sending.audio, video: sending.video });
}
$('mic').onclick = () => toggle('audio', $('mic'), 'Mic on', 'Mic off');
$('camera').onclick = () => toggle('video', $('camera'), 'Camera on', 'Camera off');
$('file').onchange = () => {
  const file = $('file').files[0];
  if (file && call) call.files.sendFile(file);
  $('file').value = '';
};
$('hangup').onclick = () => {
  call?.sayBye();
  status('You hung up.', 'ended');
  // The bye leaves before the transport closes.
  setTimeout(() => ended('You hung up.'), 200);
};
window.addEventListener('beforeunload', () => call?.sayBye());

(async () => {
  $('room').textContent = room;
  local = await localMedia();
  if (local) $('local').srcObject = local;
  try {
    await signaling.connect();
  } catch (e) {
    ended(e.message);
    return;
  }
  status('Joining…', 'joining');
  joinedAt = performance.now();
  signaling.join(room, params.get('create') === '1', name);
})();
