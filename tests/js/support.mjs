// Stand-ins for what the page's modules talk to, so their logic runs under
// `node --test` without a browser: a hub whose requests the test answers by hand.
import assert from 'node:assert/strict';
import { HubError } from '../../channels/web/static/js/errors.js';

/** Let pending promise callbacks run (the modules under test are async). */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

/** What `Sub` needs from a hub: `send(frame)` and `subs`; every request waits for the test. */
export class ScriptedHub {
  constructor() {
    this.subs = new Map();
    this.requests = [];
  }

  send(frame) {
    return new Promise((resolve, reject) => {
      this.requests.push({
        frame,
        reply: (fields = {}) => resolve({ id: 0, ok: true, ...fields }),
        fail: (code, message = '') => reject(new HubError(code, message)),
      });
    });
  }

  /** The next request the code under test made (after letting it run). */
  async next() {
    await settle();
    assert.ok(this.requests.length > 0, 'expected a request');
    return this.requests.shift();
  }

  async none() {
    await settle();
    assert.deepEqual(this.requests.map((r) => r.frame), [], 'expected no request');
  }
}

/** A subscription handler that writes down every call. */
export function recorder() {
  const calls = [];
  return {
    calls,
    delivered: () => calls.filter(([k]) => k === 'messages').flatMap(([, v]) => v),
    handler: {
      ready: (pos) => calls.push(['ready', { ...pos }]),
      synced: (top) => calls.push(['synced', top]),
      messages: (list) => calls.push(['messages', list.map((m) => m.offset)]),
      reset: (pos) => calls.push(['reset', { ...pos }]),
      revoked: (push) => calls.push(['revoked', push.channel]),
    },
  };
}

/** A `message` push. */
export const msg = (offset, epoch = 'e1', channel = 'group:g1', extra = {}) => (
  { push: 'message', channel, offset, epoch, data: { text: `m${offset}` }, ...extra });
