/* Switchboard agent console (entry module). Vanilla ES2020 modules, no dependencies, no build step.
   Customer text is hostile: the DOM is built with createElement/textContent only,
   never with innerHTML or its relatives. */
import { $, el, human, cssName, duration, sentimentEl } from './dom.js';
import { API, state, api, convPath, showError, onSessionEnded, serverNow, ago } from './core.js';
import { appendItem, onDelivery, scrollTranscript } from './transcript.js';

const TICK_MS = 15000;

const waitingText = (q) => `waiting ${duration(serverNow() - q.since)}`;

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
onSessionEnded(showLogin);                          // api() calls it on a 401

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
    state.conv = { id: data.id, channel: data.channel, handoff: data.handoff || {}, intents: data.intents || [],
      byMessage: new Map(), byDelivery: new Map() };
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

/* ---------- replies ---------- */

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
  listen('delivery', onDelivery);
  // the server ended the stream: this login is over (logged out elsewhere, expired, removed)
  es.addEventListener('session_ended', () => { closeLive(); api('GET', '/me').catch(() => {}); });
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
