/* Shared DOM and formatting helpers for the agent console. No state, no imports.
   Customer text is hostile: the DOM is built with createElement/textContent only,
   never with innerHTML or its relatives. */

export const $ = (id) => document.getElementById(id);

/** Create an element. attrs: class, text, data-… and aria-… attributes, or any property/attribute; null/false are skipped. */
export function el(tag, attrs = {}, ...children) {
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

export const pct = (c) => (typeof c === 'number' ? `${Math.round(c * 100)}%` : '');
export const human = (s) => (s == null ? '' : String(s).replace(/_/g, ' '));
export const cssName = (s) => String(s).replace(/[^\w-]/g, '');

/** "<1 min", "3 min", "2 h 5 min", "3 d". */
export function duration(seconds) {
  const m = Math.floor(Math.max(0, seconds) / 60), h = Math.floor(m / 60);
  if (m < 1) return '<1 min';
  if (h < 1) return `${m} min`;
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/** Compact text for any JSON value: numbers rounded, objects as JSON. */
export function fmt(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v == null) return '—';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** A small "key value" chip. */
export const chip = (cls, key, value) =>
  el('span', { class: `chip ${cls}` }, el('span', { class: 'k', text: human(key) }), ' ', fmt(value));

export function sentimentEl(s) {
  if (!s || !s.label) return null;
  return el('span', { class: `sentiment sentiment-${cssName(s.label)}`, text: `${s.label} ${pct(s.confidence)}`.trim() });
}
