/* Shared state, the server clock, errors and the API helper for the agent console. */
import { $, el, duration } from './dom.js';

export const API = '/console/api';

export const state = {
  me: null,            // {name, role}
  csrf: null,
  skew: 0,             // server clock minus client clock, seconds
  queue: new Map(),    // conversation id -> QueueItem
  conv: null,          // open conversation: {id, channel, handoff, intents, byMessage: Map, byDelivery: Map}
  openToken: 0,        // drops out-of-order conversation loads
  live: null,          // EventSource
  liveBroken: false,   // an error happened since the last 'open'
  drafts: new Map(),   // conversation id -> unsent reply text
};

/* ---------- server clock ---------- */

export const serverNow = () => Date.now() / 1000 + state.skew;
export const ago = (at) => (serverNow() - at < 60 ? 'just now' : `${duration(serverNow() - at)} ago`);

/** A <time> the ticker keeps fresh (data-at holds unix seconds). */
export function timeEl(at) {
  if (typeof at !== 'number') return null;
  const date = new Date(at * 1000);
  return el('time', { class: 'time', 'data-at': at, dateTime: date.toISOString(), title: date.toLocaleString(), text: ago(at) });
}

/* ---------- errors and the API ---------- */

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function showError(err) {
  if (err && err.status === 401) return;          // the login form is already up
  $('error-message').textContent = (err && err.message) || String(err);
  $('error-banner').hidden = false;
}

/* console.js registers the sign-in form here (this module must not import it back). */
let sessionEnded = () => {};
export function onSessionEnded(handler) { sessionEnded = handler; }

/** Every request goes through here: JSON in and out, CSRF header, 401 -> login form, non-2xx -> ApiError. */
export async function api(method, path, body) {
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
    if (res.status === 401 && path !== '/login') sessionEnded(state.me ? 'Your session has ended. Please sign in again.' : '');
    throw new ApiError(res.status, (data && data.error) || `${res.status} ${res.statusText}`);
  }
  return data;
}

export const convPath = (id, action) => `/conversations/${encodeURIComponent(id)}${action ? '/' + action : ''}`;
