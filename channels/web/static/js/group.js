// One group chat's state, without the page: messages kept by offset, the read
// marker and the unread count, history paged back, and the outbox (every message
// sent with an `idem` key, retried with the same key after a drop). chat.js
// draws it; tests/js runs it under node.
import { OFFLINE } from './errors.js';

export class Group {
  constructor(info) {
    this.info = info;
    this.channel = info.channel;
    this.names = new Map(info.members.map((m) => [m.id, m.name]));
    this.msgs = new Map(); // offset -> message push
    this.lowest = null; // smallest offset loaded (messages below it are not in msgs)
    this.top = 0; // the last offset handed on by the subscription
    this.marker = null; // read up to (null: not known yet)
    this.connectUnread = null; // unread count of the last connect reply
    this.atStart = false;
    this.loading = false;
    this.pending = []; // {idem, data, state, matched, ts}
    this.presence = new Set();
    this.ready = false;
  }
  get unread() { return this.marker === null ? (this.connectUnread ?? 0) : Math.max(0, this.top - this.marker); }
  last() { return this.msgs.get(this.top) ?? null; }
  add(list) { for (const m of list) this.msgs.set(m.offset, m); }

  // -- offsets and the read marker ------------------------------------------------------
  /** A connect reply: its `unread` counts stand until the subscription gives the top. */
  connected(unread) { this.connectUnread = unread[this.channel] ?? 0; this.marker = null; }

  /** The subscription's first position. */
  start(pos) { this.top = pos.offset; this.lowest = pos.offset + 1; this.atStart = pos.offset === 0; }

  /** The subscription is at `top`: the marker is the top less the connect reply's unread count. */
  synced(top) { if (this.connectUnread !== null) this.marker = Math.max(0, top - this.connectUnread); }

  /** The subscription could not recover: everything loaded is dropped, the page reloads with history. */
  reset(pos) {
    this.msgs.clear(); this.top = pos.offset; this.lowest = pos.offset + 1; this.atStart = pos.offset === 0;
  }

  /** New messages from the subscription; the member's own count as read and match the outbox. */
  received(list, me) {
    this.add(list);
    this.top = list[list.length - 1].offset;
    if (this.lowest === null) this.lowest = list[0].offset;
    for (const m of list) {
      if (m.from !== me) continue;
      if (this.marker !== null) this.marker = Math.max(this.marker, m.offset);
      const p = this.pending.find((x) => !x.matched && x.data.text === m.data?.text);
      if (p) p.matched = m.offset;
    }
  }

  /** A `read` push (the member's other tab or device). */
  readElsewhere(offset) { if (this.marker !== null) this.marker = Math.max(this.marker, offset); }

  /** Mark everything read; the offset to send with `read`, or null when there is nothing new. */
  takeRead() {
    if (this.marker === null || this.top <= this.marker) return null;
    this.marker = this.top;
    return this.top;
  }

  /** A `history before` page; `page` is the limit it was asked with. */
  older(messages, page) {
    const list = messages.filter((m) => m.offset < this.lowest);
    this.add(list);
    if (list.length) this.lowest = list[0].offset;
    if (messages.length < page || this.lowest <= 1) this.atStart = true;
  }

  // -- the outbox ---------------------------------------------------------------------
  queue(data, idem, ts) {
    this.pending.push({ idem, data, state: 'sending', matched: 0, ts, busy: false });
  }

  /**
   * Publish what is waiting (not what failed for good) through `hub.tryRequest`;
   * `settled(p, sent)` after each reply. A publish cut short by a drop waits for
   * the next connection and goes again with the same `idem`.
   */
  flush(hub, me, settled) {
    for (const p of this.pending) {
      if (p.busy || p.state === 'failed') continue;
      p.busy = true;
      p.state = 'sending';
      hub.tryRequest('publish', { channel: this.channel, data: p.data, idem: p.idem }).then(
        (r) => {
          this.pending = this.pending.filter((x) => x !== p);
          if (!this.msgs.has(r.offset) && r.offset > (this.lowest ?? 0) - 1) {
            this.msgs.set(r.offset, { push: 'message', channel: this.channel, offset: r.offset, epoch: r.epoch,
              data: p.data, from: me, ts: p.ts });
          }
          settled(p, true);
        },
        (err) => {
          p.busy = false;
          p.state = err.code === OFFLINE ? 'waiting' : 'failed';
          p.error = err.message;
          settled(p, false);
        });
    }
  }
}

/** A message's data: the text and whom it mentions (`@所有人` is "all"). */
export function messageData(text, names, me) {
  const data = { text };
  const mentions = [];
  if (text.includes('@所有人')) mentions.push('all');
  for (const [id, name] of names) if (id !== me && text.includes('@' + name)) mentions.push(id);
  if (mentions.length) data.mentions = mentions;
  return data;
}
