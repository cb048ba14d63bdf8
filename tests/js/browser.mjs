// The few browser globals js/hub.js touches, for running it under node: a
// WebSocket the test drives by hand, `navigator.onLine`, and window-level
// `online`/`offline` events. Import this before hub.js.
import assert from 'node:assert/strict';
import { settle } from './support.mjs';

export class FakeWebSocket {
  static all = [];

  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.protocol = '';
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.all.push(this);
  }

  static last() { return FakeWebSocket.all.at(-1); }

  send(data) {
    assert.equal(this.readyState, 1, 'sent on a socket that is not open');
    this.sent.push(JSON.parse(data));
  }

  /** As in a browser, close() reports `close` a little later. */
  close(code = 1005, reason = '') {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.closedWith = code;
    setImmediate(() => { this.readyState = 3; this.onclose?.({ code, reason }); });
  }

  // -- the server's side ------------------------------------------------------------
  accept(protocol = 'hub.v1.json') {
    this.readyState = 1;
    this.protocol = protocol;
    this.onopen?.();
  }

  receive(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }

  /** The connection is cut (by the network or the server). */
  drop(code = 1006, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** Answer the first unanswered request with op `op`; returns its frame. */
  async reply(op, fields = {}) {
    await settle();
    const frame = this.sent.find((f) => f.op === op && !f.answered);
    assert.ok(frame, `no ${op} request among ${JSON.stringify(this.sent)}`);
    frame.answered = true;
    this.receive({ id: frame.id, ok: true, ...fields });
    await settle();
    return frame;
  }
}

const window = new EventTarget();
globalThis.WebSocket = FakeWebSocket;
globalThis.navigator = { onLine: true };
globalThis.addEventListener = window.addEventListener.bind(window);
globalThis.removeEventListener = window.removeEventListener.bind(window);
export const fireWindow = (type) => window.dispatchEvent(new Event(type));

/**
 * A clock the test moves (`clock.tick(ms)`), standing in for the page's timers
 * (setTimeout/setInterval and their clears) while installed. Works the same on
 * every Node version with `node --test`; `setImmediate` stays real for `settle`.
 */
export const clock = {
  now: 0,
  timers: new Map(), // id -> {at, fn, every}
  nextId: 1,
  saved: null,

  install() {
    this.now = 0;
    this.timers.clear();
    this.saved = { setTimeout, clearTimeout, setInterval, clearInterval };
    const add = (fn, ms, every) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.now + Math.max(0, ms || 0), fn, every });
      return id;
    };
    globalThis.setTimeout = (fn, ms) => add(fn, ms, 0);
    globalThis.setInterval = (fn, ms) => add(fn, ms, Math.max(1, ms || 0));
    globalThis.clearTimeout = globalThis.clearInterval = (id) => { this.timers.delete(id); };
  },

  uninstall() {
    Object.assign(globalThis, this.saved);
    this.timers.clear();
  },

  /** Move the clock on by `ms`, running every timer that falls due, in time order. */
  tick(ms) {
    const end = this.now + ms;
    for (;;) {
      let due = null;
      for (const [id, t] of this.timers) if (t.at <= end && (!due || t.at < due[1].at)) due = [id, t];
      if (!due) break;
      const [id, t] = due;
      this.now = t.at;
      if (t.every) t.at += t.every; else this.timers.delete(id);
      t.fn();
    }
    this.now = end;
  },
};
