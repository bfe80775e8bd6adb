// The form at `/`: join a room by code or start one. Codes are normalised by the server; here we only
// make a fresh one (60 random bits in Crockford's base32, as the app does).
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function newRoomCode() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const chars = Array.from(bytes, (b) => ALPHABET[b & 31]).join('');
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
}

const name = document.getElementById('name');
name.value = localStorage.getItem('tincan-guest-name') || '';

function go(code, create) {
  const who = name.value.trim();
  if (!who) {
    document.getElementById('problem').textContent = 'Please type your name first.';
    return;
  }
  localStorage.setItem('tincan-guest-name', who);
  const query = new URLSearchParams({ name: who });
  if (create) query.set('create', '1');
  location.href = `/r/${encodeURIComponent(code)}?${query}`;
}

document.getElementById('join').addEventListener('submit', (e) => {
  e.preventDefault();
  const code = document.getElementById('code').value.trim();
  if (!code) {
    document.getElementById('problem').textContent = 'Type the room code you were given, or start a new room.';
    return;
  }
  go(code, false);
});
document.getElementById('new').addEventListener('click', () => go(newRoomCode(), true));
