// One followed channel: recovery from the last offset handed on (PROTOCOL.md §2).
// Talks to the hub only through `hub.send(frame)` (a promise of the reply) and
// `hub.subs` (the followed channels), so it runs without a browser (tests/js).
import { OFFLINE } from './errors.js';

/**
 * `handler`: {ready(pos), synced(top), messages(list), reset(pos), revoked(push)}.
 * `server: true` for the personal channel, which the hub subscribes at connect.
 */
export class Sub {
  constructor(hub, channel, handler, server) {
    this.hub = hub;
    this.channel = channel;
    this.handler = handler;
    this.server = server;
    this.pos = null; // {offset, epoch} of the last message handed on
    this.held = null; // pushes that arrive while a gap is being filled
    this.active = false;
  }

  async connected(reply) {
    this.active = false;
    this.held = [];
    try {
      if (this.server) await this.resumeServer(reply.subs?.[this.channel]);
      else await this.resume();
    } catch (err) {
      if (err.code !== OFFLINE) console.warn('subscribe', this.channel, err);
      if (err.code === 103) { this.handler.revoked?.({ channel: this.channel }); this.hub.subs.delete(this.channel); }
      return;
    }
    this.active = true;
    const held = this.held;
    this.held = null;
    for (const m of held) this.live(m);
  }

  async resume() {
    const since = this.pos ? { since: { offset: this.pos.offset, epoch: this.pos.epoch } } : {};
    const r = await this.hub.send({ op: 'subscribe', channel: this.channel, ...since });
    if (!this.pos) { this.pos = { offset: r.offset, epoch: r.epoch }; this.handler.ready?.(this.pos); }
    else if (r.recovered) this.deliver(r.messages);
    else this.reset(r);
    this.handler.synced?.(r.offset);
  }

  async resumeServer(top) {
    if (!top) return;
    if (!this.pos) { this.pos = { offset: top.offset, epoch: top.epoch }; this.handler.ready?.(this.pos); this.handler.synced?.(top.offset); return; }
    if (top.epoch !== this.pos.epoch || top.offset < this.pos.offset) this.reset(top);
    else await this.fill();
    this.handler.synced?.(top.offset);
  }

  /** Fetch what came after `pos` through `history` (server-side subscriptions, gaps). */
  async fill() {
    for (;;) {
      const r = await this.hub.send({
        op: 'history', channel: this.channel, limit: 1000,
        since: { offset: this.pos.offset, epoch: this.pos.epoch },
      }).catch((err) => { if (err.code === 112) return null; throw err; });
      if (r === null) { const top = await this.hub.send({ op: 'history', channel: this.channel, limit: 1 }); this.reset(top); return; }
      this.deliver(r.messages);
      if (r.messages.length < 1000) return;
    }
  }

  reset(r) {
    this.pos = { offset: r.offset, epoch: r.epoch };
    this.handler.reset?.(this.pos);
  }

  deliver(list) {
    const fresh = [];
    for (const m of list) {
      if (m.offset <= this.pos.offset) continue; // already handed on
      fresh.push(m);
      this.pos = { offset: m.offset, epoch: m.epoch };
    }
    if (fresh.length) this.handler.messages?.(fresh);
  }

  live(m) {
    if (this.held) { this.held.push(m); return; }
    if (!this.active) return;
    if (m.epoch !== this.pos.epoch) { this.reset(m); return; }
    if (m.offset > this.pos.offset + 1) { // a gap: fetch the missing ones first
      this.held = [m];
      this.fill().catch(() => {}).finally(() => {
        const held = this.held; this.held = null;
        for (const x of held) this.live(x);
      });
      return;
    }
    this.deliver([m]);
  }

  revoked(push) {
    this.hub.subs.delete(this.channel);
    this.handler.revoked?.(push);
  }
}
