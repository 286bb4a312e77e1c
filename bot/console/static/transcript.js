/* The transcript of the open conversation: one renderer per item kind, the bot's "reason"
   annotation, and the relabel / approve corrections. Text only through textContent. */
import { $, el, pct, human, cssName, fmt, chip, sentimentEl } from './dom.js';
import { state, api, convPath, showError, timeEl } from './core.js';

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

/* Whether a pushed message reached the customer: the outbox's status (retrying, given up) with a
   resend button, or why it could not be pushed at all (a REST conversation). Sent: nothing shown. */
function renderDelivery(item) {
  const d = item.delivery;
  if (!d) {
    return item.delivered === false ? el('div', { class: 'undelivered', role: 'status',
      text: `⚠ Not delivered to the customer${item.delivery_error ? ': ' + item.delivery_error : ''}` }) : null;
  }
  if (d.status === 'sent' || (d.status !== 'failed' && !d.attempts)) return null;
  const retrying = d.status !== 'failed';
  const text = retrying ? `⚠ Not delivered yet, retrying${d.error ? ': ' + d.error : ''}`
    : `⚠ Undelivered${d.error ? ': ' + d.error : ''}`;
  const button = el('button', { type: 'button', class: 'btn btn-small resend', text: retrying ? 'Retry now' : 'Resend' });
  button.addEventListener('click', () => resend(item, button));
  return el('div', { class: `undelivered delivery-${retrying ? 'retrying' : 'failed'}`, role: 'status' },
    el('span', { text }), ' ', button);
}

async function resend(item, button) {
  const conv = state.conv;
  button.disabled = true;
  try {
    const data = await api('POST', convPath(conv.id, 'resend'), { delivery_id: item.delivery.delivery_id });
    if (state.conv === conv) applyDelivery(item, data.delivery);
  } catch (e) { showError(e); button.disabled = false; }
}

function applyDelivery(item, delivery) {
  item.delivery = delivery;
  item.delivered = delivery.status === 'sent';
  item.delivery_error = item.delivered ? null : delivery.error;
  appendItem(item);
}

/** A live 'delivery' update: the item that pushed this message, re-rendered with its new status. */
export function onDelivery(data) {
  const conv = state.conv;
  const item = conv && data.conversation_id === conv.id && conv.byDelivery.get(data.delivery_id);
  if (item) applyDelivery(item, data);
}

function renderBot(item) {
  const buttons = Array.isArray(item.buttons) && item.buttons.length > 0 && el('div', { class: 'buttons' },
    ...item.buttons.map((b) => el('span', { class: 'chip', title: b.payload || '', text: b.title || b.payload || '' })));
  return [itemHead('Bot', item),
    el('div', { class: item.text == null ? 'text muted' : 'text', text: item.text ?? '(no text)' }),
    buttons, renderDelivery(item), renderReason(item.reason)];
}

function renderAgent(item) {
  const nodes = [itemHead(item.agent || 'Agent', item), el('div', { class: 'text', text: item.text || '' })];
  const delivery = renderDelivery(item);
  if (delivery) nodes.push(delivery);
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
const REASON_KEYS = ['route', 'intent', 'confidence', 'sentiment', 'retrieval', 'generation', 'escalate', 'handoff', 'error',
  'timings_ms', 'ranking', 'wait', 'action', 'policy', 'policy_confidence', 'runner_up', 'source'];

/** Which dialogue policy chose the action, how sure it was, and the best other action ("RulePolicy 100% · else utter_x 30%"). */
const policyText = (r) => [`${r.action ? r.action + ' by ' : ''}${r.policy} ${pct(r.policy_confidence)}`.trim(),
  r.runner_up && typeof r.runner_up === 'object' ? `else ${r.runner_up.action} ${pct(r.runner_up.confidence)}` : null]
  .filter(Boolean).join(' · ');

/** The runners-up of the intent ranking ("payment_methods 3% · greet 1%"), the first being the intent itself. */
const rankingText = (ranking) => ranking.slice(1).map((r) => `${r.name} ${pct(r.confidence)}`).join(' · ');

function renderReason(r) {
  if (!r || typeof r !== 'object') return el('div', { class: 'reason reason-none', text: 'no reasoning recorded' });
  const line = el('div', { class: 'reason-line' },
    r.route && el('span', { class: `chip reason-route route-${cssName(r.route)}`, text: r.route }),
    r.intent && chip('reason-intent', 'intent', `${r.intent} ${pct(r.confidence)}`.trim()),
    sentimentEl(r.sentiment),
    r.policy && el('span', { class: 'chip reason-policy', title: r.source || '' },
      el('span', { class: 'k', text: 'policy' }), ' ', policyText(r)),
    r.escalate != null && chip('reason-escalate warn', 'escalate', r.escalate),
    r.handoff != null && chip('reason-handoff warn', 'handoff', r.handoff),
    r.error != null && chip('reason-error bad', 'error', r.error),
    Array.isArray(r.ranking) && r.ranking.length > 1 && chip('reason-ranking', 'runners-up', rankingText(r.ranking)),
    r.wait && typeof r.wait === 'object' && chip('reason-wait', 'wait told',
      `~${r.wait.minutes} min, ${r.wait.ahead} ahead`),
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
export function appendItem(item) {
  if (item.message_id) state.conv.byMessage.set(item.message_id, item);
  if (item.delivery) state.conv.byDelivery.set(item.delivery.delivery_id, item);
  const li = renderItem(item);
  const existing = [...$('transcript').children].find((n) => n.dataset.key === li.dataset.key);
  if (existing) existing.replaceWith(li); else $('transcript').append(li);
}

export function scrollTranscript(force) {
  const list = $('transcript');
  if (force || list.scrollHeight - list.scrollTop - list.clientHeight < 120) list.scrollTop = list.scrollHeight;
}

/* ---------- corrections ---------- */

/** relabel / approve: POST, then let `apply` update the item and re-render it. */
async function annotate(item, button, action, body, apply) {
  const conv = state.conv;
  button.disabled = true;
  try {
    const data = await api('POST', convPath(conv.id, action), { message_id: item.message_id, ...body });
    if (state.conv === conv) { apply(data || {}); appendItem(item); }
  } catch (e) { showError(e); button.disabled = false; }
}
