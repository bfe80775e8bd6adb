// The guest call page at /r/CODE: joins the room with the browser's own WebRTC. Query: `name`, `create=1`
// (start the room if nobody is there), `capacity=N` (the room's size, if this starts it), `codec=vp8|h264`
// (preferred video codec), `relay=1` (TURN only), `video=WxH` (camera size asked for; `none`: no camera).
// In a group room it holds one RTCPeerConnection per other person (each with a video tile): whoever enters
// offers to everyone already there, as the app does. The browser encodes its camera once per connection.
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

/**
 * What the page knows, also read by the end-to-end tests and benchmarks (`marks`: ms since the join). With one
 * other person, `peerName` and `remoteMedia` are theirs; `people()` lists everyone.
 */
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
  // `video=none`: no camera (sound only), as for someone who has none.
  const [width, height] = (params.get('video') || '640x480').split('x').map(Number);
  const asks = params.get('video') === 'none' ? [{ audio: true }] : [{ audio: true, video: { width, height, frameRate: 30 } }, { audio: true }];
  for (const constraints of asks) {
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
/** The other people: peer id → { call, name, tile (a video element), phase }. */
const calls = new Map();
let local = null;
let capacity = 2;

function ended(text) {
  status(text, 'ended');
  for (const c of calls.values()) c.call.close();
  calls.clear();
  signaling.close();
  for (const t of local?.getTracks() ?? []) t.stop();
}

/** The page's phase from everyone's: connected if anyone is. */
function updatePhase() {
  if (guest.phase === 'ended') return;
  const phases = [...calls.values()].map((c) => c.phase);
  if (phases.includes('connected')) status(calls.size > 1 ? `In the call with ${calls.size}` : 'In the call', 'connected');
  else if (phases.includes('reconnecting')) status('Connection interrupted — reconnecting…', 'reconnecting');
  else if (phases.length) status('Connecting…', 'connecting');
  else status('Waiting for the others to join…', 'waiting');
}

/** The first person's video is `#remote`; each other person gets a tile of their own, with their name. */
function tileFor(peerId, name) {
  let video = $('remote');
  if ([...calls.values()].some((c) => c.tile === video)) {
    const person = document.createElement('div');
    person.className = 'person';
    video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.className = 'tile';
    video.dataset.peer = peerId;
    const label = document.createElement('span');
    label.className = 'name';
    person.append(video, label);
    $('tiles').append(person);
  }
  video.parentElement.querySelector('.name').textContent = name ?? '';
  return video;
}

function setGrid() {
  const sharing = [...calls.values()].some((c) => c.share);
  $('stage').classList.toggle('group', calls.size > 1 || sharing);
  $('stage').classList.toggle('sharing', sharing);
}

/** Someone's screen share: a video of its own, large, named "Ann's screen". */
function showShare(entry, stream) {
  if (!entry.share) {
    const person = document.createElement('div');
    person.className = 'person share';
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.className = 'share';
    video.dataset.peer = entry.call.peerId;
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = `${entry.name ?? 'Their'}${entry.name ? "'s" : ''} screen`;
    person.append(video, label);
    $('tiles').prepend(person);
    entry.share = video;
    addMessage(`${entry.name ?? 'Someone'} is sharing their screen.`);
  }
  entry.share.srcObject = stream;
  setGrid();
}

function hideShare(entry, say = true) {
  if (!entry.share) return;
  entry.share.parentElement.remove();
  entry.share = null;
  if (say) addMessage(`${entry.name ?? 'Someone'} stopped sharing.`);
  setGrid();
}

function startCall(peerId, offerer, name) {
  const entry = { call: null, name: name ?? null, tile: tileFor(peerId, name), phase: 'connecting' };
  if (calls.size === 0) guest.peerName = entry.name;
  entry.call = new GuestCall(signaling, peerId, { iceServers: signaling.iceServers(), relayOnly: params.get('relay') === '1', codec: params.get('codec'), local }, {
    state: (text, phase) => {
      entry.phase = phase;
      if (phase === 'ended') leave(entry.call.peerId, `${entry.name ?? 'Someone'}: ${text}`);
      else updatePhase();
    },
    remoteStream: (stream) => {
      if (entry.tile.srcObject === stream) return;
      entry.tile.srcObject = stream;
      const first = () => mark('firstFrame');
      if (entry.tile.requestVideoFrameCallback) entry.tile.requestVideoFrameCallback(first);
      else entry.tile.addEventListener('loadeddata', first, { once: true });
    },
    remoteShare: (stream) => showShare(entry, stream),
    control: (m) => onControl(entry, m),
    files: onFile,
  });
  calls.set(peerId, entry);
  setGrid();
  updatePhase();
  if (offerer) entry.call.offer().catch((e) => leave(peerId, `Could not call ${entry.name ?? 'them'}: ${e.message}`));
}

/** Someone is gone (goodbye, failed connection): in a call for two that ends it. */
function leave(peerId, text) {
  const entry = calls.get(peerId);
  if (!entry) return;
  entry.call.close();
  hideShare(entry, false);
  calls.delete(peerId);
  if (entry.tile === $('remote')) {
    $('remote').srcObject = null;
    $('remote').classList.remove('camera-off');
    $('remote').parentElement.querySelector('.name').textContent = '';
  } else entry.tile.parentElement.remove();
  setGrid();
  if (capacity <= 2) {
    ended(text);
    return;
  }
  addMessage(text);
  updatePhase();
}

function onControl(entry, m) {
  const who = entry.name ?? 'Them';
  if (m.type === 'open') {
    mark('dataOpen');
    // Someone who came while we share gets the share too.
    if (myShare) {
      entry.call.share(myShare).catch((e) => console.warn('share not sent', e));
      entry.call.sendControl({ type: 'media_state', audio: sending.audio, video: sending.video, screen: true });
    }
  }
  if (m.type === 'chat' && typeof m.text === 'string') {
    guest.chats.push({ from: 'them', name: entry.name, text: m.text });
    addMessage(`${who}: ${m.text}`);
    entry.call.sendControl({ type: 'chat_received', id: m.id });
  } else if (m.type === 'media_state') {
    // Said once, when it changes (a share's start and end repeat the state).
    const before = entry.remoteMedia?.video;
    entry.remoteMedia = { audio: !!m.audio, video: !!m.video };
    if (calls.size === 1) guest.remoteMedia = entry.remoteMedia;
    entry.tile.classList.toggle('camera-off', !m.video);
    if (!m.video && before === undefined) addMessage(`${who}'s camera is off.`);
    else if (!m.video && before) addMessage(`${who} turned the camera off.`);
    if (!m.screen) hideShare(entry);
  } else if (m.type === 'offer_wanted') {
    entry.call.renegotiate(Number(m.receive_video) || 0).catch((e) => console.warn('renegotiation failed', e));
  } else if (m.type === 'bye') {
    leave(entry.call.peerId, `${entry.name ?? 'The other side'} hung up.`);
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
  capacity = m.capacity ?? 2;
  history.replaceState(null, '', `/r/${m.room}${location.search}`);
  // The newcomer offers to everyone already there.
  for (const peer of m.peers) if (!calls.has(peer.id)) startCall(peer.id, true, peer.name);
  updatePhase();
});

signaling.on('peer_joined', (m) => {
  // Someone back on a new connection (their network changed): the same call, addressed there.
  const back = m.replaces && calls.get(m.replaces) ? m.replaces : capacity <= 2 && calls.size === 1 ? [...calls.keys()][0] : null;
  if (back) {
    const entry = calls.get(back);
    calls.delete(back);
    entry.call.peerId = m.peer.id;
    calls.set(m.peer.id, entry);
    return;
  }
  startCall(m.peer.id, false, m.peer.name);
});
signaling.on('peer_left', (m) => {
  // Once connected, media is peer to peer: a bye or the connection failing ends it, not the room (the other
  // side may be reconnecting to the server).
  const entry = calls.get(m.peer_id);
  if (entry && !['connected', 'reconnecting'].includes(entry.phase)) leave(m.peer_id, `${entry.name ?? 'The other side'} left.`);
});
signaling.on('signal', (m) => {
  calls.get(m.from)?.call.onSignal(m.kind, m.data).catch((e) => console.warn('signal', m.kind, e));
});
signaling.on('error', (m) => {
  if (m.code === 'room_not_found') {
    status(`Nobody is in room ${room} yet.`, 'not_found');
    const start = document.createElement('button');
    start.textContent = 'Start it and wait';
    start.onclick = () => { start.remove(); signaling.join(room, true, name, Number(params.get('capacity')) || undefined); };
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
const first = () => calls.values().next().value?.call;
guest.sendChat = (text) => {
  if (!calls.size) return false;
  const message = { type: 'chat', id: crypto.randomUUID(), text, sent_at_ms: Date.now() };
  for (const c of calls.values()) c.call.sendControl(message);
  guest.chats.push({ from: 'me', text });
  addMessage(text, true);
  return true;
};
/** The first person's connection (a call for two: the other side's). */
guest.stats = () => first()?.stats();
guest.peerConnection = () => first()?.pc;
guest.peerConnections = () => [...calls.values()].map((c) => c.call.pc);
/** Milliseconds since this page asked to join (benchmarks). */
guest.sinceJoin = () => (joinedAt === null ? null : performance.now() - joinedAt);
/** Everyone: name, peer id, phase and the connection's figures. */
guest.people = () => Promise.all([...calls.entries()].map(async ([peer, c]) => ({ peer, name: c.name, phase: c.phase, stats: await c.call.stats() })));
/** Send `megabytes` of generated data as a file to everyone (benchmarks). */
guest.sendGenerated = (megabytes) => {
  const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 13);
  const file = new File(Array.from({ length: megabytes }, () => chunk), `generated-${megabytes}MB.bin`);
  return Promise.all([...calls.values()].map((c) => c.call.files.sendFile(file)));
};

const sending = { audio: true, video: true };
async function toggle(kind, button, on, off) {
  sending[kind] = !sending[kind];
  button.textContent = sending[kind] ? on : off;
  button.setAttribute('aria-pressed', String(sending[kind]));
  for (const c of calls.values()) {
    await c.call.setSending(kind, sending[kind]);
    c.call.sendControl({ type: 'media_state', audio: sending.audio, video: sending.video, screen: !!myShare });
  }
}

/** Our own share (getDisplayMedia), sent to everyone in the call; the browser's own bar can stop it too. */
let myShare = null;
async function setShare(stream) {
  myShare?.getTracks().forEach((t) => t.stop());
  myShare = stream;
  $('share').textContent = stream ? 'Stop sharing' : 'Share screen';
  $('share').setAttribute('aria-pressed', String(!!stream));
  for (const c of calls.values()) {
    await (stream ? c.call.share(stream) : c.call.stopShare());
    c.call.sendControl({ type: 'media_state', audio: sending.audio, video: sending.video, screen: !!stream });
  }
}
$('share').onclick = async () => {
  if (myShare) return setShare(null);
  try {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    stream.getVideoTracks()[0].addEventListener('ended', () => { if (myShare === stream) setShare(null); });
    await setShare(stream);
  } catch (e) {
    addMessage(`Not shared: ${e.message}`);
  }
};
guest.share = () => $('share').click();
$('mic').onclick = () => toggle('audio', $('mic'), 'Mic on', 'Mic off');
$('camera').onclick = () => toggle('video', $('camera'), 'Camera on', 'Camera off');
$('file').onchange = () => {
  const file = $('file').files[0];
  if (file) for (const c of calls.values()) c.call.files.sendFile(file);
  $('file').value = '';
};
$('hangup').onclick = () => {
  for (const c of calls.values()) c.call.sayBye();
  status('You hung up.', 'ended');
  // The bye leaves before the transport closes.
  setTimeout(() => ended('You hung up.'), 200);
};
window.addEventListener('beforeunload', () => { for (const c of calls.values()) c.call.sayBye(); });

(async () => {
  $('room').textContent = room;
  local = await localMedia();
  if (local) $('local').srcObject = local;
  // No camera, no self-view (an empty box over the others' pictures says nothing).
  $('local').hidden = !local?.getVideoTracks().length;
  // What we send is what we have: without a camera (or microphone) the others are told it is off.
  for (const [kind, button, none] of [['video', $('camera'), 'No camera'], ['audio', $('mic'), 'No microphone']]) {
    if (local?.getTracks().some((t) => t.kind === kind)) continue;
    sending[kind] = false;
    button.textContent = none;
    button.setAttribute('aria-pressed', 'false');
    button.disabled = true;
  }
  try {
    await signaling.connect();
  } catch (e) {
    ended(e.message);
    return;
  }
  status('Joining…', 'joining');
  joinedAt = performance.now();
  const capacity = Number(params.get('capacity')) || undefined;
  signaling.join(room, params.get('create') === '1', name, capacity);
})();
