/* Switchboard agent console. Vanilla ES2020, no dependencies, no build step.
   Customer text is hostile: the DOM is built with createElement/textContent only,
   never with innerHTML or its relatives. */
'use strict';

const API = '/console/api';
const TICK_MS = 15000;

const state = {
  me: null,            // {name, role}
  csrf: null,
  skew: 0,             // server clock minus client clock, seconds
  queue: new Map(),    // conversation id -> QueueItem
  conv: null,          // open conversation: {id, channel, handoff, intents, byMessage: Map}
  openToken: 0,        // drops out-of-order conversation loads
  live: null,          // EventSource
  liveBroken: false,   // an error happened since the last 'open'
  drafts: new Map(),   // conversation id -> unsent reply text
};

const $ = (id) => document.getElementById(id);

/* ---------- small helpers ---------- */

/** Create an element. attrs: class, text, data-… and aria-… attributes, or any property/attribute; null/false are skipped. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('data-') || key.startsWith('aria-') || !(key in node)) node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) {
    if (child != null && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const serverNow = () => Date.now() / 1000 + state.skew;
const pct = (c) => (typeof c === 'number' ? `${Math.round(c * 100)}%` : '');
const human = (s) => (s == null ? '' : String(s).replace(/_/g, ' '));
const cssName = (s) => String(s).replace(/[^\w-]/g, '');

/** "<1 min", "3 min", "2 h 5 min", "3 d". */
function duration(seconds) {
  const m = Math.floor(Math.max(0, seconds) / 60), h = Math.floor(m / 60);
  if (m < 1) return '<1 min';
  if (h < 1) return `${m} min`;
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}
const ago = (at) => (serverNow() - at < 60 ? 'just now' : `${duration(serverNow() - at)} ago`);
const waitingText = (q) => `waiting ${duration(serverNow() - q.since)}`;

/** A <time> the ticker keeps fresh (data-at holds unix seconds). */
function timeEl(at) {
  if (typeof at !== 'number') return null;
  const date = new Date(at * 1000);
  return el('time', { class: 'time', 'data-at': at, dateTime: date.toISOString(), title: date.toLocaleString(), text: ago(at) });
}

/** Compact text for any JSON value: numbers rounded, objects as JSON. */
function fmt(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v == null) return '—';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** A small "key value" chip. */
const chip = (cls, key, value) =>
  el('span', { class: `chip ${cls}` }, el('span', { class: 'k', text: human(key) }), ' ', fmt(value));

function sentimentEl(s) {
  if (!s || !s.label) return null;
  return el('span', { class: `sentiment sentiment-${cssName(s.label)}`, text: `${s.label} ${pct(s.confidence)}`.trim() });
}

/* ---------- errors and the API ---------- */

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function showError(err) {
  if (err && err.status === 401) return;          // the login form is already up
  $('error-message').textContent = (err && err.message) || String(err);
  $('error-banner').hidden = false;
}

/** Every request goes through here: JSON in and out, CSRF header, 401 -> login form, non-2xx -> ApiError. */
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  let res;
  try {
    res = await fetch(API + path, { method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, `Network error: ${e.message}`);
  }
  let data = null;
  if (res.status !== 204) { try { data = await res.json(); } catch { data = null; } }
  if (!res.ok) {
    if (res.status === 401 && path !== '/login') showLogin(state.me ? 'Your session has ended. Please sign in again.' : '');
    throw new ApiError(res.status, (data && data.error) || `${res.status} ${res.statusText}`);
  }
  return data;
}

const convPath = (id, action) => `/conversations/${encodeURIComponent(id)}${action ? '/' + action : ''}`;

/* ---------- session ---------- */

function showLogin(message = '') {
  closeLive();
  Object.assign(state, { me: null, csrf: null, conv: null });
  state.queue.clear();
  $('app').hidden = true; $('whoami').hidden = true; $('error-banner').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('login-password').value = '';
  $('login-name').focus();
}

function onSignedIn(data) {
  state.me = data.agent; state.csrf = data.csrf;
  $('login').hidden = true; $('app').hidden = false; $('whoami').hidden = false;
  $('agent-name').textContent = state.me.name;
  $('agent-role').textContent = state.me.role;
  $('agent-role').dataset.role = state.me.role;
  $('admin').hidden = state.me.role !== 'admin';
  renderConversation();
  loadQueue();
  connectLive();
  if (state.me.role === 'admin') loadAgents();
  const match = location.hash.match(/^#conv=(.+)$/);   // a reload reopens the conversation it showed
  if (match) { try { openConversation(decodeURIComponent(match[1])); } catch { /* malformed hash */ } }
}

async function login(event) {
  event.preventDefault();
  $('login-submit').disabled = true;
  $('login-error').textContent = '';
  try {
    onSignedIn(await api('POST', '/login', { name: $('login-name').value.trim(), password: $('login-password').value }));
    $('login-password').value = '';
  } catch (e) {
    $('login-error').textContent = e.message;       // bad password, or 429 "try again in ..."
  } finally {
    $('login-submit').disabled = false;
  }
}

async function logout() {
  try { await api('POST', '/logout'); } catch (e) { showError(e); }
  history.replaceState(null, '', location.pathname);
  showLogin();
}

/* ---------- queue ---------- */

/** Store a row; its server-computed waiting_seconds corrects our clock skew. */
function upsertQueue(q) {
  if (typeof q.waiting_seconds === 'number') state.skew = q.waiting_seconds - (Date.now() / 1000 - q.since);
  state.queue.set(q.id, q);
}

async function loadQueue() {
  try {
    const data = await api('GET', '/queue');
    state.queue.clear();
    (data.conversations || []).forEach(upsertQueue);
    renderQueue();
  } catch (e) { showError(e); }
}

function renderQueueItem(q) {
  const open = () => openConversation(q.id);
  const li = el('li', { class: 'queue-item', 'data-id': q.id, 'data-status': q.status, tabIndex: 0,
    'aria-current': state.conv && state.conv.id === q.id ? 'true' : null },
  el('div', { class: 'row' },
    el('span', { class: 'channel badge', text: q.channel }),
    el('span', { class: `status badge status-${cssName(q.status)}`, text: q.status }),
    q.agent && el('span', { class: 'agent', text: q.agent }),
    el('span', { class: 'waiting', text: waitingText(q) })),
  el('div', { class: 'row' }, el('span', { class: 'trigger', text: human(q.trigger) }), sentimentEl(q.last_sentiment)),
  el('div', { class: 'snippet', text: q.last_message || '(no message)' }));
  li.addEventListener('click', open);
  li.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } });
  return li;
}

function renderQueue() {
  const items = [...state.queue.values()].sort((a, b) => a.since - b.since);
  const focused = document.activeElement && document.activeElement.closest('.queue-item');  // keep keyboard focus
  $('queue').replaceChildren(...items.map(renderQueueItem));
  if (focused) $('queue').querySelector(`.queue-item[data-id="${CSS.escape(focused.dataset.id)}"]`)?.focus();
  $('queue-count').textContent = String(items.length);
  $('queue-empty').hidden = items.length > 0;
  document.title = items.length ? `(${items.length}) Switchboard console` : 'Switchboard console';
}

/** Every 15 s: refresh queue waiting times and relative <time>s. */
function tick() {
  for (const li of $('queue').children) {
    const q = state.queue.get(li.dataset.id);
    if (q) li.querySelector('.waiting').textContent = waitingText(q);
  }
  for (const t of document.querySelectorAll('time[data-at]')) t.textContent = ago(Number(t.dataset.at));
}

/* ---------- conversation ---------- */

async function openConversation(id) {
  const token = ++state.openToken;
  try {
    const data = await api('GET', convPath(id));
    if (token !== state.openToken) return;          // a newer click won
    switchDraft(data.id);
    state.conv = { id: data.id, channel: data.channel, handoff: data.handoff || {}, intents: data.intents || [], byMessage: new Map() };
    history.replaceState(null, '', `#conv=${encodeURIComponent(data.id)}`);
    renderConversation();
    $('transcript').replaceChildren();
    (data.items || []).forEach(appendItem);
    scrollTranscript(true);
    renderQueue();                                   // moves the selection highlight
  } catch (e) { showError(e); }
}

/** Unsent text is kept per conversation, so a draft never goes to the wrong customer. */
function switchDraft(nextId) {
  const box = $('reply-text');
  if (state.conv && state.conv.id === nextId) return;
  if (state.conv) state.drafts.set(state.conv.id, box.value);
  box.value = state.drafts.get(nextId) || '';
}

/** Header, action buttons and reply box for the open conversation's handoff state. */
function renderConversation() {
  const conv = state.conv;
  $('conv-placeholder').hidden = !!conv;
  $('conv-body').hidden = !conv;
  if (!conv) { delete $('conversation').dataset.id; return; }
  $('conversation').dataset.id = conv.id;
  const h = conv.handoff;
  $('conv-id').textContent = conv.id;
  $('conv-channel').textContent = conv.channel || '';
  $('conv-status').textContent = h.status || '';
  $('conv-status').className = `badge status status-${cssName(h.status)}`;
  $('conv-trigger').textContent = h.trigger ? `trigger: ${human(h.trigger)}` : '';
  $('conv-agent').textContent = h.agent ? `agent: ${h.agent}` : '';
  const withAgent = h.status === 'agent';
  const mine = withAgent && h.agent === state.me.name;
  const canRelease = withAgent && (mine || state.me.role === 'admin');
  $('take').disabled = withAgent;
  $('handback').disabled = $('close').disabled = !canRelease;
  $('reply-text').disabled = $('reply-send').disabled = !mine;
  $('reply-text').placeholder = mine ? 'Reply… (Enter sends, Shift+Enter for a new line)' : 'Take the conversation to reply.';
}

/** Apply a new handoff to the open conversation and, until the live update lands, to its queue row. */
function applyHandoff(id, handoff) {
  if (!handoff) return;
  if (state.conv && state.conv.id === id) { state.conv.handoff = handoff; renderConversation(); }
  const q = state.queue.get(id);
  if (q && ['pending', 'agent'].includes(handoff.status)) state.queue.set(id, { ...q, status: handoff.status, agent: handoff.agent || null });
  else if (q) state.queue.delete(id);
  renderQueue();
}

/** take / handback / close */
async function convAction(action) {
  const conv = state.conv;
  if (!conv) return;
  $(action).disabled = true;
  try {
    applyHandoff(conv.id, (await api('POST', convPath(conv.id, action))).handoff);
    if (action === 'take') $('reply-text').focus();
  } catch (e) { showError(e); if (state.conv) renderConversation(); }
}

/* ---------- transcript: one renderer per item kind ---------- */

const itemHead = (who, item, ...extra) =>
  el('div', { class: 'item-head' }, el('span', { class: 'who', text: who }), ...extra, timeEl(item.at));

function renderCustomer(item) {
  const meta = el('div', { class: 'nlu' },
    el('span', { class: 'intent', text: item.intent ? `${item.intent} ${pct(item.confidence)}`.trim() : 'no intent' }),
    sentimentEl(item.sentiment),
    item.corrected_intent && el('span', { class: 'corrected', text: `corrected → ${item.corrected_intent}` }));
  if (item.message_id) {
    const current = item.corrected_intent || item.intent || '';
    const names = [...new Set([...state.conv.intents, ...(current ? [current] : [])])];
    const select = el('select', { class: 'relabel', 'aria-label': 'Correct intent for this message' },
      ...names.map((name) => el('option', { value: name, text: name, selected: name === current })));
    const save = el('button', { type: 'button', class: 'btn btn-small relabel-save', text: 'Relabel', disabled: !names.length });
    save.addEventListener('click', () => annotate(item, save, 'relabel', { intent: select.value },
      (data) => { item.corrected_intent = data.intent || select.value; }));
    meta.append(el('span', { class: 'relabel-control' }, select, save));
  }
  return [itemHead('Customer', item, item.channel && el('span', { class: 'badge', text: item.channel })),
    el('div', { class: 'text', text: item.text || '' }), meta];
}

function renderBot(item) {
  const buttons = Array.isArray(item.buttons) && item.buttons.length > 0 && el('div', { class: 'buttons' },
    ...item.buttons.map((b) => el('span', { class: 'chip', title: b.payload || '', text: b.title || b.payload || '' })));
  return [itemHead('Bot', item),
    el('div', { class: item.text == null ? 'text muted' : 'text', text: item.text ?? '(no text)' }),
    buttons, renderReason(item.reason)];
}

function renderAgent(item) {
  const nodes = [itemHead(item.agent || 'Agent', item), el('div', { class: 'text', text: item.text || '' })];
  if (item.delivered === false) {
    nodes.push(el('div', { class: 'undelivered', role: 'status',
      text: `⚠ Not delivered to the customer${item.delivery_error ? ': ' + item.delivery_error : ''}` }));
  }
  if (item.approved_entry) {
    nodes.push(el('span', { class: 'approved', title: `Knowledge entry ${item.approved_entry}`, text: 'Approved as answer ✓' }));
  } else if (item.message_id) {
    const button = el('button', { type: 'button', class: 'btn btn-small approve', text: 'Approve as answer' });
    button.addEventListener('click', () => annotate(item, button, 'approve', {},
      (data) => { item.approved_entry = (data.entry && data.entry.id) || true; }));
    nodes.push(button);
  }
  return nodes;
}

function renderStatus(item) {
  const texts = {
    pending: `Handed to agents${item.trigger ? ' — ' + human(item.trigger) : ''}`,
    agent: `${item.agent || 'An agent'} took over`,
    bot: 'Handed back to the bot',
    closed: `Closed${item.agent ? ' by ' + item.agent : ''}`,
  };
  return [el('span', { class: 'text', text: texts[item.status] || `Status: ${item.status}` }), ' ', timeEl(item.at)];
}

const renderOther = (item) => [itemHead(item.kind || 'item', item), el('pre', { class: 'text', text: JSON.stringify(item, null, 2) })];
const RENDERERS = { customer: renderCustomer, bot: renderBot, agent: renderAgent, status: renderStatus };

/* The "why" annotation under each bot message: always visible, tolerant of absent fields, unknown keys shown generically. */
const REASON_KEYS = ['route', 'intent', 'confidence', 'sentiment', 'retrieval', 'generation', 'escalate', 'handoff', 'error', 'timings_ms'];

function renderReason(r) {
  if (!r || typeof r !== 'object') return el('div', { class: 'reason reason-none', text: 'no reasoning recorded' });
  const line = el('div', { class: 'reason-line' },
    r.route && el('span', { class: `chip reason-route route-${cssName(r.route)}`, text: r.route }),
    r.intent && chip('reason-intent', 'intent', `${r.intent} ${pct(r.confidence)}`.trim()),
    sentimentEl(r.sentiment),
    r.escalate != null && chip('reason-escalate warn', 'escalate', r.escalate),
    r.handoff != null && chip('reason-handoff warn', 'handoff', r.handoff),
    r.error != null && chip('reason-error bad', 'error', r.error),
    ...Object.entries(r).filter(([k]) => !REASON_KEYS.includes(k)).map(([k, v]) => chip('reason-extra', k, v)));
  const box = el('div', { class: 'reason', 'aria-label': 'Why the bot said this' }, line);
  if (Array.isArray(r.retrieval) && r.retrieval.length) {
    box.append(el('ul', { class: 'reason-retrieval', 'aria-label': 'Retrieved support logs' },
      ...r.retrieval.map((hit) => el('li', { title: hit.id != null ? `log ${hit.id}` : null },
        el('span', { class: 'score', text: fmt(hit.score) }), ' ', hit.question || hit.id || ''))));
  }
  if (r.generation && typeof r.generation === 'object') box.append(renderGeneration(r.generation));
  if (r.timings_ms && typeof r.timings_ms === 'object') {
    box.append(el('details', { class: 'reason-timings' }, el('summary', { text: 'timings' }),
      ...Object.entries(r.timings_ms).map(([k, v]) => chip('timing', k, `${fmt(v)} ms`))));
  }
  return box;
}

/** Generator line: model, latency, every grounding key, then any other key (error, skipped, ...). */
function renderGeneration(gen) {
  const grounding = gen.grounding && typeof gen.grounding === 'object' ? gen.grounding : {};
  const others = Object.entries(gen).filter(([k]) => !['model', 'latency_ms', 'grounding'].includes(k));
  return el('div', { class: 'reason-generation' },
    el('span', { class: 'k', text: 'generator' }),
    gen.model && el('span', { class: 'model', text: gen.model }),
    typeof gen.latency_ms === 'number' && el('span', { class: 'muted', text: `${Math.round(gen.latency_ms)} ms` }),
    ...Object.entries(grounding).map(([k, v]) => chip(v === false ? 'grounding bad' : 'grounding', k, v)),
    ...others.map(([k, v]) => chip(k === 'error' ? 'bad' : k === 'skipped' ? 'warn' : '', k, v)));
}

/** Items without a message id are identified by content, so one arriving twice (response + live) shows once. */
const itemKey = (item) => (item.message_id ? `m:${item.message_id}` : `${item.kind}|${item.at}|${item.text ?? item.status ?? ''}`);

function renderItem(item) {
  const render = RENDERERS[item.kind] || renderOther;
  return el('li', { class: `item item-${RENDERERS[item.kind] ? item.kind : 'other'}`, 'data-kind': item.kind,
    'data-message-id': item.message_id || null, 'data-key': itemKey(item) }, ...render(item));
}

/** Append an item to the transcript, or replace its earlier rendering. */
function appendItem(item) {
  if (item.message_id) state.conv.byMessage.set(item.message_id, item);
  const li = renderItem(item);
  const existing = [...$('transcript').children].find((n) => n.dataset.key === li.dataset.key);
  if (existing) existing.replaceWith(li); else $('transcript').append(li);
}

function scrollTranscript(force) {
  const list = $('transcript');
  if (force || list.scrollHeight - list.scrollTop - list.clientHeight < 120) list.scrollTop = list.scrollHeight;
}

/* ---------- corrections and replies ---------- */

/** relabel / approve: POST, then let `apply` update the item and re-render it. */
async function annotate(item, button, action, body, apply) {
  const conv = state.conv;
  button.disabled = true;
  try {
    const data = await api('POST', convPath(conv.id, action), { message_id: item.message_id, ...body });
    if (state.conv === conv) { apply(data || {}); appendItem(item); }
  } catch (e) { showError(e); button.disabled = false; }
}

async function sendReply(event) {
  event.preventDefault();
  const conv = state.conv, box = $('reply-text'), text = box.value.trim();
  if (!conv || !text || $('reply-send').disabled) return;
  $('reply-send').disabled = true;
  try {
    const data = await api('POST', convPath(conv.id, 'reply'), { text });
    if (box.value.trim() === text) box.value = '';   // keep anything typed while it was sending
    state.drafts.delete(conv.id);
    if (state.conv === conv && data && data.item) { appendItem(data.item); scrollTranscript(true); }
  } catch (e) {
    showError(e);
  } finally {
    if (state.conv) { renderConversation(); box.focus(); }
  }
}

function replyKeydown(event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('reply-form').requestSubmit();
  }
}

/* ---------- live updates (server-sent events) ---------- */

function onConversationEvent(data) {
  if (data.queue_item) upsertQueue(data.queue_item);
  else if (data.queue_item === null) state.queue.delete(data.id);
  const conv = state.conv;
  if (conv && conv.id === data.id) {
    if (data.handoff) { conv.handoff = data.handoff; renderConversation(); }
    (data.items || []).forEach(appendItem);
    scrollTranscript(false);
  }
  renderQueue();
}

function onAnnotationEvent(data) {
  const item = state.conv && data.conversation_id === state.conv.id && state.conv.byMessage.get(data.message_id);
  if (!item) return;
  if ('corrected_intent' in data) item.corrected_intent = data.corrected_intent;
  if ('approved_entry' in data) item.approved_entry = data.approved_entry;
  appendItem(item);
}

function setLive(on) {
  Object.assign($('live-status'), { className: `live ${on ? 'live-on' : 'live-off'}`, textContent: on ? 'live' : 'offline',
    title: on ? 'Live updates connected' : 'Live updates disconnected' });
}

function connectLive() {
  closeLive();
  const es = new EventSource(`${API}/live`);
  state.live = es;
  const listen = (name, handler) => es.addEventListener(name, (ev) => {
    let data = null;
    try { data = JSON.parse(ev.data); } catch { return; }
    if (data && typeof data === 'object') handler(data);
  });
  listen('conversation', onConversationEvent);
  listen('annotation', onAnnotationEvent);
  es.addEventListener('open', () => {
    setLive(true);
    if (state.liveBroken) {                     // events may have been missed: resync
      state.liveBroken = false;
      loadQueue();
      if (state.conv) openConversation(state.conv.id);
    }
  });
  es.addEventListener('error', () => {
    state.liveBroken = true;
    setLive(false);
    // CLOSED: the server refused (e.g. 401) and the browser gave up. Check the session, then retry.
    if (es.readyState === EventSource.CLOSED && state.live === es) {
      api('GET', '/me').then(() => setTimeout(() => { if (state.live === es) connectLive(); }, 5000), () => {});
    }
  });
}

function closeLive() {
  if (state.live) state.live.close();
  Object.assign(state, { live: null, liveBroken: false });
  setLive(false);
}

/* ---------- admin ---------- */

function renderAgentRow(agent) {
  const created = new Date(typeof agent.created_at === 'number' ? agent.created_at * 1000 : agent.created_at);
  const remove = el('button', { type: 'button', class: 'btn btn-small agent-remove', text: 'Remove',
    'aria-label': `Remove agent ${agent.name}`, disabled: agent.name === state.me.name });  // can't remove yourself
  remove.addEventListener('click', () => removeAgent(agent.name, remove));
  return el('li', { class: 'agent-row', 'data-name': agent.name },
    el('span', { class: 'name', text: agent.name }),
    el('span', { class: 'badge role-badge', 'data-role': agent.role, text: agent.role }),
    el('span', { class: 'muted', text: isNaN(created) ? '' : created.toLocaleDateString() }),
    remove);
}

async function loadAgents() {
  try {
    $('agent-list').replaceChildren(...((await api('GET', '/agents')).agents || []).map(renderAgentRow));
  } catch (e) { showError(e); }
}

async function addAgent(event) {
  event.preventDefault();
  $('new-agent-submit').disabled = true;
  try {
    await api('POST', '/agents', { name: $('new-agent-name').value.trim(),
      password: $('new-agent-password').value, role: $('new-agent-role').value });
    $('agent-form').reset();
    await loadAgents();
  } catch (e) { showError(e); } finally { $('new-agent-submit').disabled = false; }
}

async function removeAgent(name, button) {
  button.disabled = true;
  try { await api('DELETE', `/agents/${encodeURIComponent(name)}`); await loadAgents(); } catch (e) { showError(e); button.disabled = false; }
}

/* ---------- start ---------- */

function init() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('error-dismiss').addEventListener('click', () => { $('error-banner').hidden = true; });
  for (const action of ['take', 'handback', 'close']) $(action).addEventListener('click', () => convAction(action));
  $('reply-form').addEventListener('submit', sendReply);
  $('reply-text').addEventListener('keydown', replyKeydown);
  $('agent-form').addEventListener('submit', addAgent);
  setInterval(tick, TICK_MS);
  api('GET', '/me').then(onSignedIn, (e) => { if (e.status !== 401) { showLogin(); showError(e); } });
}

document.addEventListener('DOMContentLoaded', init);
