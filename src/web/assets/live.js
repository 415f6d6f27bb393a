// The web page's live view and answering from the browser (loaded after app.js, whose
// helpers it uses; the page starts once both are read).

// ---- live view: WebRTC with the station (it answers; no STUN/TURN, the LAN only) ----

const live = { pc: null, id: null, talk: null };

async function answerCall(video, state) {
  const pc = new RTCPeerConnection();
  live.pc = pc;
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (e) {
    state.textContent = 'Answering needs the camera and microphone: ' + e.message;
    return null;
  }
  for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendrecv' });
  const self = $('#live-self');
  self.srcObject = new MediaStream(media.getVideoTracks());
  self.hidden = false;
  video.muted = false;
  $('#live-talk').hidden = true;
  $('#live-sound').hidden = true;
  $('#live-hangup').hidden = false;
  return offerTo('/api/answer', pc, video, state);
}

async function watchLive(video, state) {
  const pc = new RTCPeerConnection();
  live.pc = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  let mic = null;
  try {
    mic = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0];
  } catch (e) {
    state.textContent = 'No microphone here: you can watch and listen.';
  }
  if (mic) {
    // Silent until "Talk".
    mic.enabled = false;
    live.talk = mic;
    pc.addTransceiver(mic, { direction: 'sendrecv' });
  } else {
    pc.addTransceiver('audio', { direction: 'recvonly' });
  }
  return offerTo('/api/live', pc, video, state);
}

// One offer/answer exchange with the station; the station's tracks play in `video`.
async function offerTo(path, pc, video, state) {
  const stream = new MediaStream();
  // When the first picture showed (the benchmark reads it).
  video.addEventListener('loadeddata', () => { video.dataset.firstFrame = String(Date.now()); }, { once: true });
  video.srcObject = stream;
  pc.ontrack = (e) => stream.addTrack(e.track);
  pc.onconnectionstatechange = () => {
    state.textContent = { connected: 'Live', failed: 'The connection failed.', disconnected: 'Connection lost.' }[pc.connectionState] || pc.connectionState;
  };
  await pc.setLocalDescription(await pc.createOffer());
  const r = await api('POST', path, { sdp: pc.localDescription.sdp });
  if (!r.ok) {
    state.textContent = 'The station says: ' + await r.text();
    return null;
  }
  const answer = await r.json();
  live.id = answer.id;
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  return pc;
}

function endLive() {
  if (live.id !== null) {
    fetch('/api/live/' + live.id + '/end', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': csrf }, keepalive: true });
  }
  if (live.pc) live.pc.close();
  live.pc = null;
  live.id = null;
}

async function livePage() {
  const video = $('#live-video');
  const state = $('#live-state');
  $('#live-sound').onclick = (e) => {
    video.muted = !video.muted;
    e.target.textContent = video.muted ? 'Sound on' : 'Sound off';
    e.target.classList.toggle('on', !video.muted);
  };
  $('#live-talk').onclick = (e) => {
    if (!live.talk) return;
    live.talk.enabled = !live.talk.enabled;
    e.target.classList.toggle('on', live.talk.enabled);
    e.target.textContent = live.talk.enabled ? 'Stop talking' : 'Talk';
  };
  $('#live-hangup').onclick = async () => {
    await hangUp();
    endLive();
    location.href = '/';
  };
  window.addEventListener('pagehide', endLive);
  window.addEventListener('hashchange', () => location.reload());
  if (location.hash === '#answer') await answerCall(video, state);
  else await watchLive(video, state);
}
