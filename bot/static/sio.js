/* A minimal Socket.IO v5 / Engine.IO v4 client over WebSocket, no build step, no dependency.
   It speaks just what the chat widget needs: connect to the default namespace (with auth),
   answer pings, emit and receive events, reconnect with back-off. Exposes window.SwitchboardSio. */
(function () {
  "use strict";

  function SioClient(serverUrl, options) {
    this.url = serverUrl.replace(/^http/, "ws").replace(/\/$/, "") + "/" + (options.path || "socket.io") +
      "/?EIO=4&transport=websocket";
    this.auth = options.auth || null;
    this.handlers = {};
    this.ws = null;
    this.connected = false;
    this.closedByUser = false;
    this.attempt = 0;
    this.pingTimer = null;
    this.acks = {};      // ack id -> callback, for emits that asked the server to acknowledge
    this.nextAck = 1;
  }

  SioClient.prototype.on = function (event, handler) {
    (this.handlers[event] = this.handlers[event] || []).push(handler);
    return this;
  };

  SioClient.prototype._fire = function (event, args) {
    (this.handlers[event] || []).forEach(function (h) {
      try { h.apply(null, args); } catch (e) { if (window.console) console.error(e); }
    });
  };

  SioClient.prototype.connect = function () {
    var self = this;
    self.closedByUser = false;
    var ws;
    try { ws = new WebSocket(self.url); } catch (e) { self._retry(); return; }
    self.ws = ws;
    ws.onmessage = function (msg) { if (self.ws === ws) self._packet(String(msg.data)); };
    ws.onclose = function () {
      if (self.ws !== ws) return;
      var was = self.connected;
      self.connected = false;
      self.acks = {}; // answers to what was in flight will not come: the caller resends
      clearTimeout(self.pingTimer);
      if (was) self._fire("disconnect", []);
      if (!self.closedByUser) self._retry();
    };
    ws.onerror = function () { /* onclose follows */ };
  };

  SioClient.prototype._retry = function () {
    var self = this;
    var delay = Math.min(10000, 500 * Math.pow(2, self.attempt++)) * (0.75 + Math.random() / 2);
    self._fire("reconnecting", [Math.round(delay)]);
    setTimeout(function () { if (!self.closedByUser) self.connect(); }, delay);
  };

  SioClient.prototype._watchdog = function (ms) {
    var self = this;
    clearTimeout(self.pingTimer);
    self.pingTimer = setTimeout(function () { if (self.ws) self.ws.close(); }, ms);
  };

  SioClient.prototype._packet = function (data) {
    var type = data.charAt(0);
    if (type === "0") { // engine.io open: join the default namespace
      var open = JSON.parse(data.slice(1));
      this.pingWindow = (open.pingInterval || 25000) + (open.pingTimeout || 20000);
      this._watchdog(this.pingWindow);
      this.ws.send("40" + (this.auth ? JSON.stringify(this.auth) : ""));
    } else if (type === "2") { // ping -> pong
      this._watchdog(this.pingWindow);
      this.ws.send("3");
    } else if (type === "4") {
      this._message(data.slice(1));
    }
  };

  SioClient.prototype._message = function (data) {
    var kind = data.charAt(0);
    var body = data.slice(1);
    if (kind === "0") { // connected to the namespace
      this.connected = true;
      this.attempt = 0;
      this._fire("connect", []);
    } else if (kind === "2") { // event: optional ack id digits, then a JSON array
      var start = body.indexOf("[");
      if (start < 0) return;
      var args = JSON.parse(body.slice(start));
      this._fire(args[0], args.slice(1));
      if (start > 0 && this.ws) this.ws.send("43" + body.slice(0, start) + "[]"); // the server asked: received
    } else if (kind === "3") { // ack: its id digits, then the handler's answer as a JSON array
      var at = body.indexOf("[");
      var ackId = parseInt(at < 0 ? body : body.slice(0, at), 10);
      var callback = this.acks[ackId];
      delete this.acks[ackId];
      if (callback) callback.apply(null, at < 0 ? [] : JSON.parse(body.slice(at)));
    } else if (kind === "4") { // connect_error (e.g. a refused JWT)
      var err = {};
      try { err = JSON.parse(body); } catch (e) { /* keep empty */ }
      this._fire("connect_error", [err]);
    } else if (kind === "1") { // server-side disconnect
      if (this.ws) this.ws.close();
    }
  };

  /* Emit an event; with `ack`, the server's answer comes back to it (lost with the connection). */
  SioClient.prototype.emit = function (event, payload, ack) {
    if (!this.connected || !this.ws) return false;
    var id = "";
    if (ack) { id = String(this.nextAck++); this.acks[id] = ack; }
    this.ws.send("42" + id + JSON.stringify([event, payload]));
    return true;
  };

  SioClient.prototype.close = function () {
    this.closedByUser = true;
    if (this.ws) this.ws.close();
  };

  window.SwitchboardSio = SioClient;
})();
