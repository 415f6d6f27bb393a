// The station's web page: plain script, no framework, nothing fetched from elsewhere.
'use strict';

const $ = (selector) => document.querySelector(selector);
let csrf = '';

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { 'x-csrf-token': csrf } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && !document.body.classList.contains('login')) {
    location.href = '/login';
  }
  return response;
}

// ---- login and first visit ----

async function loginPage() {
  const problem = $('#problem');
  const access = await (await fetch('/api/access')).json();
  const form = access.setup ? $('#setup') : $('#login');
  form.hidden = false;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    problem.textContent = '';
    const data = Object.fromEntries(new FormData(form));
    if (access.setup && data.password !== data.again) {
      problem.textContent = 'The two passwords differ.';
      return;
    }
    const path = access.setup ? '/api/setup' : '/api/login';
    const body = access.setup ? { code: data.code, password: data.password } : { password: data.password };
    if (!access.setup && data.code) body.code = data.code;
    const r = await api('POST', path, body);
    if (r.ok) {
      location.href = '/';
    } else if (r.status === 429) {
      const why = await r.json().catch(() => ({}));
      if (why.code_from_screen) {
        // Locked by strangers' guesses: the code on the station's screen lets its owner in.
        if (!access.setup) $('#unlock').hidden = false;
        problem.textContent = 'Too many wrong tries from the network. Type the code now shown on the station\'s screen.';
      } else {
        problem.textContent = 'Too many wrong tries. Wait a minute.';
      }
    } else if (r.status === 503) {
      problem.textContent = 'The station is busy. Try again in a moment.';
    } else if (r.status === 401) {
      problem.textContent = access.setup ? 'That is not the code on the screen.' : 'Wrong password.';
    } else if (r.status === 409) {
      location.reload();
    } else {
      problem.textContent = await r.text();
    }
  });
}

// ---- the pages ----

function who(state) {
  const p = state.peer;
  return p ? (p.contact || p.uri) : '';
}

function callText(status) {
  const c = status.call;
  if (c.state === 'idle' && status.web_answer) return 'This page talks with the visitor';
  switch (c.state) {
    case 'idle': return 'Idle';
    case 'outgoing': return (c.ringing ? 'Ringing ' : 'Calling ') + who(c) + '…';
    case 'incoming': return who(c) + ' is calling';
    case 'active': return 'In a call with ' + status.legs.map(who).join(', ');
    default: return c.state;
  }
}

function duration(secs) {
  const d = Math.floor(secs / 86400), h = Math.floor(secs / 3600) % 24, m = Math.floor(secs / 60) % 60;
  return (d ? d + ' d ' : '') + (h ? h + ' h ' : '') + m + ' min';
}

function showStatus(data) {
  const s = data.status;
  if (!s) return;
  $('#station').textContent = s.station;
  document.title = s.station + ' · doorway';
  $('#call').textContent = callText(s);
  const inCall = s.call.state !== 'idle' || !!s.web_answer;
  $('#hangup').hidden = !inCall || s.call.state === 'incoming';
  const ringing = s.call.state === 'incoming' || s.call.state === 'outgoing';
  $('#ring').hidden = !ringing;
  $('#ring-text').textContent = ringing ? callText(s) : '';
  $('#ring-hangup').textContent = s.call.state === 'incoming' ? 'Decline' : 'Cancel';
  // Ringing here: answer the caller; ringing out (the doorbell was pressed here):
  // answer the visitor at this station.
  $('#ring-answer').hidden = !ringing || location.hash === '#answer';
  $('#ring-answer').textContent = s.call.state === 'incoming' ? 'Answer' : 'Answer the door';
  showRingPicture(ringing);
  // This station's own lock, or, in a call, the lock of the station at the other end.
  $('#door').hidden = !(s.door || s.call.state === 'active');
  const facts = $('#facts');
  facts.replaceChildren();
  const rows = [
    ['Address', s.address],
    ['SIP', s.uri],
    ['Fingerprint code', s.security && s.security.code],
    ['Version', data.version],
    ['Up', duration(data.uptime_secs)],
  ];
  for (const [k, v] of rows) facts.append(el('dt', { text: k }), el('dd', { text: v || '–' }));
  const devices = $('#devices');
  devices.replaceChildren(el('li', { text: s.device_problem || 'All devices work.' }));
  if (s.missed_call) devices.append(el('li', { text: s.missed_call }));
  const messages = $('#messages');
  messages.replaceChildren(...(s.messages || []).slice(-10).reverse().map((m) =>
    el('li', { text: (m.incoming ? 'From ' : 'To ') + m.peer + ': ' + m.text })));
}

// While it rings: the snapshot the station took when the ring began.
let ringPicture = null;
async function showRingPicture(ringing) {
  const img = $('#ring-picture');
  if (!ringing) {
    img.hidden = true;
    ringPicture = null;
    return;
  }
  if (ringPicture !== null) return;
  ringPicture = 'loading';
  // The picture's place is kept from the start, so nothing moves under a finger.
  img.removeAttribute('src');
  img.hidden = false;
  const r = await api('GET', '/api/visitors');
  const newest = r.ok ? (await r.json())[0] : null;
  if (newest && newest.outcome === 'ringing') {
    // The snapshot may still be on its way.
    setTimeout(() => { img.src = '/api/visitors/' + newest.id + '/snapshot'; }, 700);
  } else {
    img.hidden = true;
  }
}

function follow() {
  const events = new EventSource('/api/events');
  events.onmessage = (e) => showStatus(JSON.parse(e.data));
  events.onerror = () => {
    events.close();
    setTimeout(follow, 2000);
  };
}

async function hangUp() {
  await api('POST', '/api/hangup');
}

async function openDoor() {
  const result = $('#door-result');
  result.textContent = '…';
  const r = await api('POST', '/api/door/open');
  const body = await r.json().catch(() => ({}));
  result.textContent = r.ok ? body.done : (body.error || 'The door did not open.');
  result.className = r.ok ? 'good' : 'problem';
  setTimeout(() => { result.textContent = ''; }, 8000);
}

async function showLog() {
  const r = await api('GET', '/api/log');
  if (r.ok) $('#log-lines').textContent = (await r.json()).join('\n');
}

// ---- settings: a form made from the config's own shape ----

function fieldPath(path) {
  return path.join('.');
}

function input(path, value) {
  const name = fieldPath(path);
  const label = path[path.length - 1];
  let control;
  if (typeof value === 'boolean') {
    control = el('input', { type: 'checkbox', name, checked: value });
    control.dataset.kind = 'bool';
  } else if (Array.isArray(value)) {
    control = el('textarea', { name, rows: Math.max(2, value.length) });
    control.value = value.join('\n');
    control.dataset.kind = 'list';
  } else if (typeof value === 'number') {
    control = el('input', { type: 'number', name, step: 'any', value: String(value) });
    control.dataset.kind = 'number';
  } else {
    control = el('input', { name, value: value === null ? '' : String(value) });
    control.dataset.kind = value === null ? 'optional' : 'text';
  }
  return el('label', { 'data-field': name }, String(label) + ' ', control, el('span', { class: 'field-problem' }));
}

function fieldset(path, value) {
  const box = el('fieldset', {}, el('legend', { text: path.join(' ') || 'station' }));
  for (const [k, v] of Object.entries(value)) {
    const p = path.concat([k]);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      // A map (keys, camera controls): one "name = value" per line.
      const entries = Object.entries(v);
      if (entries.every(([, x]) => typeof x !== 'object')) {
        const control = el('textarea', { name: fieldPath(p), rows: Math.max(2, entries.length) });
        control.value = entries.map(([a, b]) => a + ' = ' + b).join('\n');
        control.dataset.kind = 'map';
        box.append(el('label', { 'data-field': fieldPath(p) }, k + ' ', control, el('span', { class: 'field-problem' })));
      } else {
        box.append(fieldset(p, v));
      }
    } else {
      box.append(input(p, v));
    }
  }
  return box;
}

// A new contact's or group's fields.
const BLANK = {
  contact: { name: '', uri: '', key: null, preview: false, auto_answer: false, fingerprint: null, tls_port: null },
  group: { name: '', members: [], key: null },
};

// Contacts or groups: one box each with Remove, and an Add button. A removed one
// becomes null, which the station drops when it saves.
function tableList(kind, items) {
  const box = el('div', { class: 'table-list', 'data-kind': kind });
  const entry = (i) => {
    const set = fieldset([kind, String(i)], items[i]);
    set.append(el('button', {
      type: 'button', class: 'link', text: 'Remove',
      onclick: () => { items[i] = null; set.remove(); },
    }));
    return set;
  };
  items.forEach((_, i) => box.append(entry(i)));
  const add = el('button', {
    type: 'button', class: 'link', text: 'Add ' + kind,
    onclick: () => { items.push(structuredClone(BLANK[kind])); add.before(entry(items.length - 1)); },
  });
  box.append(add);
  return box;
}

function readForm(form, original) {
  const config = structuredClone(original);
  for (const control of form.querySelectorAll('[name]')) {
    const path = control.name.split('.');
    let target = config;
    for (const key of path.slice(0, -1)) target = target && target[key];
    if (!target) continue;
    const key = path[path.length - 1];
    const text = control.value;
    switch (control.dataset.kind) {
      case 'bool': target[key] = control.checked; break;
      case 'number': target[key] = text === '' ? null : Number(text); break;
      case 'list': target[key] = text.split('\n').map((x) => x.trim()).filter((x) => x !== ''); break;
      case 'map': {
        const map = {};
        for (const line of text.split('\n')) {
          const [a, ...b] = line.split('=');
          if (a.trim()) map[a.trim()] = /^-?\d+$/.test(b.join('=').trim()) ? Number(b.join('=').trim()) : b.join('=').trim();
        }
        target[key] = map;
        break;
      }
      case 'optional': target[key] = text === '' ? null : (/^\d+$/.test(text) ? Number(text) : text); break;
      default: target[key] = text;
    }
  }
  return config;
}

function showSaveResult(r, body) {
  const result = $('#settings-result');
  for (const p of document.querySelectorAll('.field-problem')) p.textContent = '';
  if (r.ok) {
    const later = body.at_next_start || [];
    result.textContent = 'Saved and applied.' + (later.length ? ' At the next start: ' + later.join(', ') + '.' : '');
    result.className = 'good';
    return;
  }
  result.className = 'problem';
  const field = (body.field || '').replace(/\[(\d+)\]/g, '.$1');
  const where = document.querySelector('[data-field="' + CSS.escape(field) + '"] .field-problem');
  if (where) where.textContent = body.message;
  result.textContent = 'Not saved: ' + (body.field ? body.field + ': ' : '') + (body.message || 'error');
}

// A new password: every other browser is logged out; this one gets a new session.
async function changePassword(e) {
  e.preventDefault();
  const form = e.target;
  const data = Object.fromEntries(new FormData(form));
  const r = await api('POST', '/api/password', { current: data.current, new: data.new });
  const result = $('#password-result');
  if (r.ok) {
    csrf = (await r.json()).csrf;
    form.reset();
    result.className = '';
    result.textContent = 'Password changed. Every other browser must log in again.';
  } else {
    result.className = 'problem';
    result.textContent = r.status === 403 ? 'The current password is wrong.' : await r.text();
  }
}

// ---- stations nearby that are not contacts yet, with "Pair" ----
async function nearbyStations() {
  const r = await api('GET', '/api/status');
  if (!r.ok) return;
  const status = (await r.json()).status;
  const list = (status.neighbours || []).filter((n) => !n.contact);
  const ul = $('#nearby-list');
  ul.replaceChildren();
  $('#nearby').hidden = list.length === 0;
  for (const n of list) {
    const button = el('button', { text: 'Pair' });
    button.onclick = async () => {
      const result = $('#nearby-result');
      const r = await api('POST', '/api/pair', { name: n.code });
      const data = await r.json().catch(() => ({}));
      result.className = r.ok ? '' : 'problem';
      result.textContent = r.ok
        ? `Pairing with ${n.name}: compare the code on both stations' screens and confirm on each.`
        : (data.error || 'Pairing could not start.');
    };
    const where = n.address ? `, ${n.address}` : '';
    ul.append(el('li', {}, el('span', { text: `${n.name} (${n.code}${where}) ` }), button));
  }
}

async function settingsPage() {
  nearbyStations();
  const r = await api('GET', '/api/config');
  if (!r.ok) {
    $('#settings-file').textContent = await r.text();
    return;
  }
  const data = await r.json();
  $('#settings-file').textContent = data.file;
  $('#settings-text').value = data.text;
  const form = $('#settings-form');
  form.replaceChildren();
  if (!data.config) {
    form.append(el('p', { class: 'problem', text: data.problem }));
    return;
  }
  const config = data.config;
  // The station first, then who it calls, then the rest.
  const order = ['station', 'contact', 'group', 'devices', 'media', 'input', 'security', 'web'];
  const keys = Object.keys(config).sort((a, b) => {
    const i = (k) => (order.indexOf(k) + 1) || order.length + 1;
    return i(a) - i(b);
  });
  for (const k of keys) {
    const v = config[k];
    if (k in BLANK) {
      form.append(tableList(k, v));
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      form.append(fieldset([k], v));
    }
  }
  form.append(el('button', { text: 'Save' }));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const saved = await api('POST', '/api/config', { config: readForm(form, config) });
    showSaveResult(saved, await saved.json().catch(() => ({})));
  };
  $('#settings-text-save').onclick = async () => {
    const saved = await api('POST', '/api/config', { text: $('#settings-text').value });
    showSaveResult(saved, await saved.json().catch(() => ({})));
  };
}

// ---- the visitor log ----

const OUTCOMES = {
  ringing: 'ringing', answered: 'answered', answered_from_web: 'answered from the web',
  missed: 'missed', declined: 'declined',
};

async function visitorsPage() {
  const r = await api('GET', '/api/visitors');
  if (!r.ok) return;
  const visits = await r.json();
  const list = $('#visitor-list');
  $('#visitor-empty').hidden = visits.length > 0;
  list.replaceChildren(...visits.map((v) => {
    const when = new Date(v.at * 1000).toLocaleString();
    const what = (v.direction === 'outgoing' ? 'Rang ' : 'Call from ') + v.peer;
    const snapshot = '/api/visitors/' + v.id + '/snapshot';
    const picture = v.bytes > 0
      ? el('a', { href: snapshot, target: '_blank' }, el('img', { src: snapshot, alt: what, loading: 'lazy' }))
      : el('div', { class: 'quiet', text: 'no picture' });
    const remove = el('button', {
      class: 'link', text: 'Delete',
      onclick: async () => { if ((await api('DELETE', '/api/visitors/' + v.id)).ok) visitorsPage(); },
    });
    const meta = el('div', { class: 'meta' },
      el('strong', { text: what }), el('span', { class: 'quiet', text: when }),
      el('span', { text: OUTCOMES[v.outcome] || v.outcome }),
      v.bytes > 0 ? el('a', { href: snapshot + '?download=true', download: 'visitor-' + v.id + '.jpg', text: 'Download' }) : '',
      remove);
    return el('li', { 'data-visit': v.id }, picture, meta);
  }));
}

async function appPage() {
  const session = await api('GET', '/api/session');
  if (!session.ok) return;
  csrf = (await session.json()).csrf;
  const page = location.pathname.replace(/^\//, '') || 'home';
  const section = $('#page-' + page);
  if (section) section.hidden = false;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === location.pathname) a.classList.add('here');
  }
  $('#logout').onclick = async () => {
    await api('POST', '/api/logout');
    location.href = '/login';
  };
  $('#hangup').onclick = hangUp;
  $('#open-door').onclick = openDoor;
  $('#ring-hangup').onclick = hangUp;
  $('#ring-answer').onclick = () => { location.href = '/live#answer'; };
  follow();
  if (page === 'log') {
    showLog();
    $('#log-refresh').onclick = showLog;
  }
  if (page === 'settings') {
    settingsPage();
    $('#password-form').addEventListener('submit', changePassword);
  }
  if (page === 'visitors') visitorsPage();
  if (page === 'live') livePage();
}

document.addEventListener('DOMContentLoaded', () => {
  if (document.body.classList.contains('login')) loginPage();
  else appPage();
});
