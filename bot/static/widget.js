/* Switchboard chat widget: embed with one tag on any site,
     <script src="https://bot.example/static/widget.js"
             data-config='{"title": "Northwind Goods", "initPayload": "/greet"}'></script>
   (or call Switchboard.init({...}) yourself). Options: serverUrl (default: where this file
   comes from), title, subtitle, placeholder, initPayload, colors {primary, primaryText,
   background, botBubble, botText}, open (start opened), auth (e.g. {token: JWT}).
   It speaks Rasa's socket.io protocol; everything is rendered as text, never as HTML. */
(function () {
  "use strict";
  var script = document.currentScript;
  var MAX_STORED = 200;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = String(text);
    return node;
  }

  function Widget(config) {
    this.cfg = config;
    this.server = String(config.serverUrl).replace(/\/$/, "");
    this.key = "switchboard:" + this.server;
    this.state = this._load();
    this.confirmed = false;
    this.streams = {};
    this.typingTimer = null;
  }

  Widget.prototype._load = function () {
    try {
      var saved = JSON.parse(window.localStorage.getItem(this.key) || "null");
      if (saved && Array.isArray(saved.messages)) {
        if (!Array.isArray(saved.outbox)) saved.outbox = [];
        if (!Array.isArray(saved.delivered)) saved.delivered = [];
        return saved;
      }
    } catch (e) { /* storage blocked or corrupt: start afresh */ }
    // outbox: what the customer sent that the server has not acknowledged yet, oldest first;
    // delivered: the delivery ids of the last bot messages shown (one sent twice is shown once)
    return { sessionId: null, messages: [], open: false, outbox: [], delivered: [] };
  };

  function messageId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  Widget.prototype._save = function () {
    this.state.messages = this.state.messages.slice(-MAX_STORED);
    try { window.localStorage.setItem(this.key, JSON.stringify(this.state)); } catch (e) { /* private mode */ }
  };

  Widget.prototype.mount = function () {
    var cfg = this.cfg, colors = cfg.colors || {};
    var host = el("div", { id: "switchboard-widget" });
    var vars = { primary: "--sb-primary", primaryText: "--sb-primary-text", background: "--sb-background",
                 botBubble: "--sb-bot-bubble", botText: "--sb-bot-text" };
    Object.keys(vars).forEach(function (k) { if (colors[k]) host.style.setProperty(vars[k], colors[k]); });
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    root.appendChild(el("link", { rel: "stylesheet", href: this.server + "/static/widget.css" }));
    var title = cfg.title || "Chat with us";

    this.launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false",
                                   "aria-controls": "sb-panel", "aria-label": "Open chat: " + title });
    this.launcher.appendChild(el("span", { class: "launcher-icon", "aria-hidden": "true" }, "\u{1F4AC}"));
    this.panel = el("section", { class: "panel", id: "sb-panel", role: "dialog", "aria-label": title });
    this.panel.hidden = true;
    var header = el("header");
    var heading = el("div");
    heading.appendChild(el("h2", {}, title));
    if (cfg.subtitle) heading.appendChild(el("p", { class: "subtitle" }, cfg.subtitle));
    this.closeBtn = el("button", { class: "close", type: "button", "aria-label": "Close chat" }, "\u00D7");
    header.appendChild(heading);
    header.appendChild(this.closeBtn);
    this.status = el("div", { class: "status", role: "status", "aria-live": "polite" });
    this.list = el("ol", { class: "messages", role: "log", "aria-live": "polite", "aria-label": "Conversation",
                           tabindex: "0" });
    this.typing = el("div", { class: "typing", "aria-hidden": "true" });
    for (var i = 0; i < 3; i++) this.typing.appendChild(el("span", { class: "dot" }));
    this.typing.hidden = true;
    this.form = el("form", { class: "composer" });
    this.input = el("input", { id: "sb-input", type: "text", autocomplete: "off", maxlength: "4000",
                               placeholder: cfg.placeholder || "Type your message\u2026", "aria-label": "Message" });
    var send = el("button", { type: "submit", class: "send" }, "Send");
    this.form.appendChild(this.input);
    this.form.appendChild(send);
    [header, this.status, this.list, this.typing, this.form].forEach(function (n) { this.panel.appendChild(n); }, this);
    root.appendChild(this.panel);
    root.appendChild(this.launcher);
    document.body.appendChild(host);
    this.root = root;

    var self = this;
    this.launcher.addEventListener("click", function () { self.toggle(!self.state.open); });
    this.closeBtn.addEventListener("click", function () { self.toggle(false); });
    this.panel.addEventListener("keydown", function (e) { if (e.key === "Escape") self.toggle(false); });
    this.form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = self.input.value.trim();
      if (!text) return;
      self.input.value = "";
      self.send(text, text);
    });
    this.state.messages.forEach(function (m) { self._render(m); });
    this._clearStaleReplies();
    if (this.state.open || cfg.open) this.toggle(true, true);
  };

  Widget.prototype.toggle = function (open, restoring) {
    this.state.open = open;
    this.panel.hidden = !open;
    this.launcher.setAttribute("aria-expanded", String(open));
    this.launcher.hidden = open;
    this._save();
    if (open) {
      if (!restoring) this.input.focus(); // a reload does not steal the host page's focus
      this._scroll();
      if (!this.state.messages.length && !this.state.greeted && this.cfg.initPayload) {
        this.state.greeted = true;
        this._emit(this.cfg.initPayload);
      }
    } else if (!restoring) {
      this.launcher.focus();
    }
  };

  Widget.prototype.connect = function () {
    var self = this;
    var sio = this.sio = new window.SwitchboardSio(this.server, { auth: this.cfg.auth });
    sio.on("connect", function () {
      self._status("");
      // acks: this widget acknowledges each bot message, so the server knows what it received
      sio.emit("session_request", { session_id: self.state.sessionId, acks: true });
    });
    sio.on("session_confirm", function (data) {
      var id = typeof data === "string" ? data : data && data.session_id;
      if (!id) return;
      if (id !== self.state.sessionId) { // a new conversation
        self.state.sessionId = id;
        self._save();
      }
      self.confirmed = true;
      // what the server has not acknowledged goes (again): each keeps its id, so the server
      // handles a message it already stored only once, and what it missed arrives after this
      self.state.outbox.forEach(function (m) { self._transmit(m); });
    });
    sio.on("bot_uttered", function (m) { self._bot(m || {}); });
    sio.on("bot_uttered_delta", function (d) { self._delta(d || {}); });
    sio.on("error", function (err) { self._typing(false); self._note((err && err.error) || "Something went wrong."); });
    sio.on("connect_error", function (err) { self._status("Cannot connect: " + ((err && err.message) || "refused")); });
    sio.on("disconnect", function () { self.confirmed = false; });
    sio.on("reconnecting", function () {
      self.confirmed = false;
      self._status("Reconnecting\u2026 what you send now goes out once the connection is back.");
    });
    sio.connect();
  };

  Widget.prototype.send = function (shown, payload) {
    this._clearStaleReplies(true);
    this._add({ from: "user", text: shown });
    this._emit(payload);
  };

  Widget.prototype._emit = function (text) {
    var message = { id: messageId(), text: text };
    this.state.outbox.push(message); // kept (in localStorage too) until the server acknowledges it
    this._save();
    if (this.confirmed) this._transmit(message); // else on the next session_confirm: nothing typed is lost
    this._typing(true);
  };

  Widget.prototype._transmit = function (message) {
    var self = this;
    this.sio.emit("user_uttered", { message: message.text, session_id: this.state.sessionId,
                                     metadata: { message_id: message.id } }, function (answer) {
      if (answer && answer.status === 503) return; // not stored (the bot is starting): sent again on reconnect
      self.state.outbox = self.state.outbox.filter(function (m) { return m.id !== message.id; });
      self._save();
    });
  };

  Widget.prototype._bot = function (m) {
    var delivery = m.metadata && typeof m.metadata.delivery_id === "string" ? m.metadata.delivery_id : null;
    if (delivery) { // sent again by the server (our acknowledgement was lost): shown once
      if (this.state.delivered.indexOf(delivery) >= 0) return;
      this.state.delivered = this.state.delivered.concat([delivery]).slice(-MAX_STORED);
    }
    this._typing(false);
    if (m.stream_id && this.streams[m.stream_id]) {
      var live = this.streams[m.stream_id];
      delete this.streams[m.stream_id];
      live.node.querySelector("p").textContent = m.text || "";
      live.node.removeAttribute("aria-busy");
      live.message.text = m.text || "";
      this._save();
      return;
    }
    var message = { from: "bot", text: typeof m.text === "string" ? m.text : "" };
    if (m.metadata && typeof m.metadata.agent === "string") message.agent = m.metadata.agent.slice(0, 64);
    if (Array.isArray(m.quick_replies)) {
      message.replies = m.quick_replies.filter(function (r) { return r && (r.title || r.payload); })
        .map(function (r) { return { title: String(r.title || r.payload), payload: String(r.payload || r.title) }; });
    }
    var att = m.attachment;
    if (att && att.type === "image" && att.payload && /^https?:\/\//.test(String(att.payload.src))) {
      message.image = String(att.payload.src);
    }
    if (message.text || message.image || (message.replies && message.replies.length)) this._add(message);
  };

  Widget.prototype._delta = function (d) {
    if (!d.stream_id) return;
    this._typing(false);
    var live = this.streams[d.stream_id];
    if (!live) {
      var message = { from: "bot", text: "" };
      live = this.streams[d.stream_id] = { message: message, node: this._add(message) };
      live.node.setAttribute("aria-busy", "true");
    }
    live.message.text += String(d.delta || "");
    live.node.querySelector("p").textContent = live.message.text;
    this._scroll();
  };

  Widget.prototype._add = function (message) {
    this.state.messages.push(message);
    this._save();
    var node = this._render(message);
    this._scroll();
    return node;
  };

  Widget.prototype._render = function (message) {
    var self = this;
    var item = el("li", { class: "msg " + (message.from === "user" ? "user" : "bot") });
    var who = message.from === "user" ? "You said: " : message.agent ? message.agent + " (our team): " : "Assistant: ";
    item.appendChild(el("span", { class: "sr-only" }, who));
    if (message.agent) item.appendChild(el("span", { class: "who", "aria-hidden": "true" }, message.agent + " · our team"));
    item.appendChild(el("p", {}, message.text || ""));
    if (message.image) item.appendChild(el("img", { src: message.image, alt: "Image from the assistant" }));
    if (message.replies && message.replies.length) {
      var group = el("div", { class: "quick-replies", role: "group", "aria-label": "Suggested replies" });
      message.replies.forEach(function (r) {
        var b = el("button", { type: "button", class: "quick-reply" }, r.title);
        b.addEventListener("click", function () { self.send(r.title, r.payload); self.input.focus(); });
        group.appendChild(b);
      });
      item.appendChild(group);
    }
    this.list.appendChild(item);
    return item;
  };

  // Quick replies belong to the latest bot message only; once the customer answers they go.
  Widget.prototype._clearStaleReplies = function (all) {
    var msgs = this.state.messages, last = msgs.length - 1;
    msgs.forEach(function (m, i) { if (m.replies && (all || i !== last)) delete m.replies; });
    var groups = this.list.querySelectorAll(".quick-replies");
    for (var i = 0; i < groups.length; i++) {
      if (all || groups[i].parentNode !== this.list.lastElementChild) groups[i].remove();
    }
    this._save();
  };

  Widget.prototype._note = function (text) {
    this.list.appendChild(el("li", { class: "msg note", role: "note" }, text));
    this._scroll();
  };

  Widget.prototype._status = function (text) { this.status.textContent = text; this.status.hidden = !text; };

  Widget.prototype._typing = function (on) {
    var self = this;
    clearTimeout(this.typingTimer);
    this.typing.hidden = !on;
    this.typing.setAttribute("aria-label", on ? "The assistant is typing" : "");
    if (on) this.typingTimer = setTimeout(function () { self.typing.hidden = true; }, 30000);
    this._scroll();
  };

  Widget.prototype._scroll = function () { this.list.scrollTop = this.list.scrollHeight; };

  function init(config) {
    config = Object.assign({}, config || {});
    if (!config.serverUrl) config.serverUrl = script ? new URL(script.src, window.location.href).origin : window.location.origin;
    var widget = new Widget(config);
    function start() { widget.mount(); widget.connect(); }
    function withClient() {
      if (window.SwitchboardSio) return start();
      var loader = el("script", { src: widget.server + "/static/sio.js" });
      loader.onload = start;
      loader.onerror = function () { if (window.console) console.error("Switchboard: cannot load " + loader.src); };
      document.head.appendChild(loader);
    }
    if (document.body) withClient(); else document.addEventListener("DOMContentLoaded", withClient);
    return widget;
  }

  window.Switchboard = { init: init };
  if (script && script.hasAttribute("data-config")) {
    var cfg = {};
    try { cfg = JSON.parse(script.getAttribute("data-config") || "{}"); } catch (e) {
      if (window.console) console.error("Switchboard: data-config is not valid JSON", e);
    }
    init(cfg);
  }
})();
