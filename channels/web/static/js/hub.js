// The hub connection: requests and replies, reconnect with jittered backoff, and
// subscriptions that recover from their last offset (PROTOCOL.md §2): nothing
// missed, nothing doubled — every message is handed on once, in offset order.
import { encode, decode } from './msgpack.js';
import { OFFLINE, HubError } from './errors.js';
import { Sub } from './sub.js';
import { reconnectDelay, nextAttempt } from './backoff.js';

export { OFFLINE, HubError };

const PING_EVERY = 20000;
const PING_TIMEOUT = 8000;

/**
 * Events (EventTarget): `state` (detail: 'connecting' | 'connected' | 'reconnecting' |
 * 'offline' | 'closed'), `connected` (detail: the connect reply), `push` (detail: a
 * push other than `message`), `closed` (detail: {code, reason}; the token is refused).
 */
export class Hub extends EventTarget {
  constructor({ url, token, codec = 'msgpack' }) {
    super();
    this.url = url;
    this.token = token;
    this.codec = codec;
    this.wire = 'json';
    this.state = 'connecting';
    this.ws = null;
    this.nextId = 1;
    this.inflight = new Map(); // id -> {resolve, reject, timer}
    this.waiting = []; // requests made while not connected
    this.subs = new Map(); // channel -> Sub
    this.attempt = 0;
    this.timer = 0;
    this.lastFrame = 0;
    this.info = null; // the last connect reply
    this.stopped = false;
    this.onOnline = () => { if (this.state !== 'connected') this.reconnectNow(); else this.probe(); };
    this.onOffline = () => { if (this.state !== 'connected') this.setState('offline'); else this.probe(); };
    addEventListener('online', this.onOnline);
    addEventListener('offline', this.onOffline);
    this.pinger = setInterval(() => this.heartbeat(), 5000);
  }

  start() { this.open(); return this; }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    removeEventListener('online', this.onOnline);
    removeEventListener('offline', this.onOffline);
    if (this.ws) this.ws.close(1000);
    this.setState('closed');
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.dispatchEvent(new CustomEvent('state', { detail: s }));
  }

  open() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const protocols = this.codec === 'msgpack' ? ['hub.v1.msgpack', 'hub.v1.json'] : ['hub.v1.json'];
    let ws;
    try { ws = new WebSocket(this.url, protocols); } catch { this.scheduleReconnect(); return; }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      this.wire = ws.protocol === 'hub.v1.msgpack' ? 'msgpack' : 'json';
      this.lastFrame = Date.now();
      this.handshake(ws);
    };
    ws.onmessage = (ev) => { if (this.ws === ws) this.frame(ev.data); };
    ws.onclose = (ev) => { if (this.ws === ws) this.lost(ev.code, ev.reason); };
    ws.onerror = () => {};
  }

  async handshake(ws) {
    let reply;
    try {
      reply = await this.send({ op: 'connect', token: this.token }, ws);
    } catch (err) {
      if (err.code === 101 || err.code === 109) this.refuse(err.code === 109 ? 4013 : 4001, err.message);
      return;
    }
    this.info = reply;
    this.attempt = 0;
    this.setState('connected');
    this.dispatchEvent(new CustomEvent('connected', { detail: reply }));
    for (const sub of this.subs.values()) sub.connected(reply);
    const waiting = this.waiting.splice(0);
    for (const w of waiting) this.send(w.frame, ws).then(w.resolve, w.reject);
  }

  refuse(code, reason) {
    this.stopped = true;
    if (this.ws) this.ws.close(1000);
    this.setState('closed');
    this.dispatchEvent(new CustomEvent('closed', { detail: { code, reason } }));
  }

  lost(code, reason) {
    this.ws = null;
    for (const [, p] of this.inflight) { clearTimeout(p.timer); p.reject(new HubError(OFFLINE, '连接已断开')); }
    this.inflight.clear();
    if (code === 4001 || code === 4003 || code === 4013) { this.refuse(code, reason); return; }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.setState(navigator.onLine === false ? 'offline' : 'reconnecting');
    const delay = reconnectDelay(this.attempt);
    this.attempt = nextAttempt(this.attempt);
    this.timer = setTimeout(() => this.open(), delay);
  }

  reconnectNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    this.attempt = 0;
    this.open();
  }

  /** Close a connection that stopped answering, so it is replaced. */
  async probe() {
    const ws = this.ws;
    if (!ws || this.state !== 'connected') return;
    try { await this.send({ op: 'ping' }, ws, PING_TIMEOUT); } catch {
      if (this.ws === ws) { ws.close(); this.lost(1006, 'no answer to ping'); }
    }
  }

  heartbeat() {
    if (this.state === 'connected' && Date.now() - this.lastFrame > PING_EVERY) this.probe();
  }

  frame(raw) {
    this.lastFrame = Date.now();
    let msg;
    try { msg = typeof raw === 'string' ? JSON.parse(raw) : decode(new Uint8Array(raw)); } catch { return; }
    if (msg.id !== undefined && msg.push === undefined) {
      const p = this.inflight.get(msg.id);
      if (!p) return;
      this.inflight.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg);
      else p.reject(new HubError(msg.error?.code ?? 100, msg.error?.message ?? '错误'));
      return;
    }
    if (msg.push === 'message') {
      const sub = this.subs.get(msg.channel);
      if (sub) sub.live(msg);
      return;
    }
    if (msg.push === 'unsubscribe') {
      const sub = this.subs.get(msg.channel);
      if (sub) sub.revoked(msg);
    }
    if (msg.push === 'disconnect' && !msg.reconnect) { this.refuse(msg.code, msg.reason); return; }
    this.dispatchEvent(new CustomEvent('push', { detail: msg }));
  }

  send(fields, ws = this.ws, timeout = 20000) {
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== 1) { reject(new HubError(OFFLINE, '未连接')); return; }
      const id = this.nextId++;
      const frame = { id, ...fields };
      const timer = setTimeout(() => {
        this.inflight.delete(id);
        reject(new HubError(OFFLINE, '服务器没有回应'));
      }, timeout);
      this.inflight.set(id, { resolve, reject, timer });
      ws.send(this.wire === 'msgpack' ? encode(frame) : JSON.stringify(frame));
    });
  }

  /** A request; made while disconnected, it waits for the next connection. */
  request(op, fields = {}) {
    if (this.state === 'connected') return this.send({ op, ...fields });
    return new Promise((resolve, reject) => this.waiting.push({ frame: { op, ...fields }, resolve, reject }));
  }

  /** A request that fails at once when not connected (the caller retries). */
  tryRequest(op, fields = {}) {
    if (this.state !== 'connected') return Promise.reject(new HubError(OFFLINE, '未连接'));
    return this.send({ op, ...fields });
  }

  /**
   * Follow a channel. `handler`: {ready(pos), messages(list), reset(pos), revoked(push)}.
   * `server: true` for the personal channel, which the hub subscribes at connect.
   */
  follow(channel, handler, { server = false } = {}) {
    let sub = this.subs.get(channel);
    if (!sub) {
      sub = new Sub(this, channel, handler, server);
      this.subs.set(channel, sub);
      if (this.state === 'connected') sub.connected(this.info);
    }
    return sub;
  }
}

/** Stop following a channel (unsubscribes when connected). */
Hub.prototype.unfollow = function unfollow(channel) {
  if (!this.subs.delete(channel) || this.state !== 'connected') return;
  this.send({ op: 'unsubscribe', channel }).catch(() => {});
};
