// Group chats: the list with unread counts, one conversation with history paged
// back on scroll, sending through an outbox (idempotent retries after a drop),
// mentions and presence.
import { h, replace, fmtTime, fmtDay, fmtSize, toast, uid } from './ui.js';
import { OFFLINE } from './hub.js';
import { Group, messageData } from './group.js';

const PAGE = 40;

export class Chats {
  constructor(app) {
    this.app = app;
    this.hub = app.hub;
    this.me = app.me.member;
    this.groups = new Map();
    this.openCh = null;
    this.root = null;
    this.popIndex = 0;
    this.popItems = [];
    for (const info of app.me.groups) {
      const g = new Group(info);
      this.groups.set(g.channel, g);
      this.hub.follow(g.channel, this.handler(g));
    }
    this.hub.addEventListener('connected', (ev) => {
      const unread = ev.detail.unread || {};
      for (const g of this.groups.values()) g.connected(unread);
      this.flushAll();
      if (this.open) this.refreshPresence(this.open);
      this.changed();
    });
    this.hub.addEventListener('push', (ev) => this.push(ev.detail));
    document.addEventListener('visibilitychange', () => { if (this.open) this.markRead(this.open); });
  }

  get open() { return this.openCh ? this.groups.get(this.openCh) : null; }

  handler(g) {
    return {
      ready: (pos) => { g.start(pos); this.synced(g); },
      synced: (top) => { g.synced(top); this.changed(g); },
      messages: (list) => this.received(g, list),
      reset: (pos) => {
        g.reset(pos);
        if (g === this.open) this.loadOlder(g, true);
        this.changed(g);
      },
      revoked: () => {
        this.groups.delete(g.channel);
        toast(`你已不在“${g.info.name}”中`, 'warn');
        if (this.openCh === g.channel) location.hash = '#/chats';
        this.changed();
      },
    };
  }

  synced(g) { g.ready = true; if (g === this.open && g.msgs.size < PAGE) this.loadOlder(g); this.changed(g); }

  received(g, list) {
    g.received(list, this.me);
    if (g === this.open) this.markRead(g);
    this.changed(g, true);
  }

  push(p) {
    const g = this.groups.get(p.channel);
    if (p.push === 'read' && g) {
      g.readElsewhere(p.offset);
      this.changed(g);
    } else if ((p.push === 'join' || p.push === 'leave') && g) {
      if (p.push === 'join') g.presence.add(p.member); else g.presence.delete(p.member);
      if (g === this.open) this.renderPresence(g);
    }
  }

  markRead(g) {
    if (document.visibilityState !== 'visible') return;
    const offset = g.takeRead();
    if (offset === null) return;
    this.hub.tryRequest('read', { channel: g.channel, offset }).catch(() => {});
    this.changed(g);
  }

  totalUnread() { let n = 0; for (const g of this.groups.values()) n += g.unread; return n; }

  changed(g = null, newMessages = false) {
    this.app.badges();
    if (!this.root || !this.root.isConnected) return;
    this.renderList();
    if (g && g === this.open) this.renderMessages(newMessages ? 'follow' : 'keep');
  }

  // -- history ------------------------------------------------------------------------
  async loadOlder(g, fresh = false) {
    if (g.loading || (!fresh && g.atStart) || g.lowest === null) return;
    if (g.lowest <= 1) { g.atStart = true; this.changed(g); return; }
    g.loading = true;
    this.renderMessages('keep');
    try {
      const r = await this.hub.request('history', { channel: g.channel, before: g.lowest, limit: PAGE });
      g.older(r.messages, PAGE);
    } catch (err) {
      if (err.code !== OFFLINE) toast(`加载历史消息失败：${err.message}`, 'error');
    } finally {
      g.loading = false;
    }
    this.renderMessages(fresh ? 'bottom' : 'anchor');
    this.renderList();
  }

  async refreshPresence(g) {
    try {
      const r = await this.hub.tryRequest('presence', { channel: g.channel });
      g.presence = new Set(Object.keys(r.members));
      if (g === this.open) this.renderPresence(g);
    } catch { /* shown again at the next connection */ }
  }

  // -- sending ------------------------------------------------------------------------
  send(g, text) {
    g.queue(messageData(text, g.names, this.me), uid(), Date.now());
    this.flush(g);
    this.renderMessages('bottom');
  }

  flushAll() { for (const g of this.groups.values()) this.flush(g); }

  flush(g) {
    g.flush(this.hub, this.me, (p, sent) => { if (g === this.open) this.renderMessages(sent ? 'follow' : 'keep'); });
  }

  // -- rendering ----------------------------------------------------------------------
  render(main, groupId) {
    this.openCh = groupId ? `group:${groupId}` : null;
    const g = this.open;
    this.root = h('div', { class: `chat-layout${g ? ' has-open' : ''}` });
    this.listEl = h('ul', { class: 'chat-list', 'aria-label': '群聊' });
    this.conv = h('section', { class: 'conv', 'aria-label': g ? g.info.name : '会话' });
    this.root.append(h('nav', { class: 'chat-nav', 'aria-label': '群聊列表' },
      h('h2', { class: 'pane-title' }, '群聊'), this.listEl), this.conv);
    replace(main, this.root);
    this.renderList();
    if (!g) {
      replace(this.conv, h('div', { class: 'empty' },
        this.groups.size ? '请选择左侧的群聊。' : '你还没有加入任何群聊。'));
      return;
    }
    this.renderConversation(g);
    if (g.ready && g.msgs.size < PAGE && !g.atStart) this.loadOlder(g);
    this.refreshPresence(g);
    this.markRead(g);
  }

  renderList() {
    if (!this.listEl) return;
    const items = [...this.groups.values()].sort((a, b) => (b.last()?.ts ?? 0) - (a.last()?.ts ?? 0)
      || a.info.name.localeCompare(b.info.name, 'zh-CN'));
    replace(this.listEl, items.map((g) => {
      const last = g.last();
      const n = g.unread;
      const mentioned = n > 0 && [...g.msgs.values()].some((m) => m.offset > (g.marker ?? 0)
        && m.from !== this.me && (m.data?.mentions || []).some((x) => x === this.me || x === 'all'));
      const preview = last ? `${g.names.get(last.from) ?? last.from ?? '系统'}：${last.data?.text ?? '[附件]'}` : '';
      return h('li', {},
        h('a', {
          href: `#/chats/${encodeURIComponent(g.info.id)}`, class: `chat-item${g === this.open ? ' active' : ''}`,
          'aria-current': g === this.open ? 'page' : undefined, dataset: { channel: g.channel },
        },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, g.info.name.slice(0, 1)),
        h('span', { class: 'chat-main' },
          h('span', { class: 'chat-name' }, g.info.name),
          h('span', { class: 'chat-preview' }, mentioned ? h('strong', { class: 'at-me' }, '[有人@我] ') : null, preview)),
        h('span', { class: 'chat-side' },
          last ? h('time', {}, fmtTime(last.ts)) : null,
          n ? h('span', { class: 'badge unread', 'aria-label': `${n} 条未读` }, n > 99 ? '99+' : String(n)) : null)));
    }));
  }

  renderConversation(g) {
    this.presenceBtn = h('button', { type: 'button', class: 'presence-btn', 'aria-expanded': 'false',
      'aria-controls': 'members-panel', onclick: () => this.togglePanel() });
    this.panel = h('div', { class: 'members-panel', id: 'members-panel', hidden: true });
    this.olderBtn = h('button', { type: 'button', class: 'older', onclick: () => this.loadOlder(g) }, '加载更早的消息');
    this.listMsgs = h('ol', { class: 'messages', 'aria-label': '消息记录' });
    this.live = h('div', { class: 'sr-only', 'aria-live': 'polite' });
    this.scroller = h('div', { class: 'scroller', tabindex: '0', onscroll: () => this.onScroll(g) },
      this.olderBtn, this.listMsgs);
    this.input = h('textarea', { id: 'msg-input', rows: '1', maxlength: '4000', autocomplete: 'off',
      placeholder: '输入消息，@ 提及成员', 'aria-autocomplete': 'list',
      'aria-controls': 'mention-pop', 'aria-expanded': 'false' });
    this.pop = h('ul', { class: 'mention-pop', id: 'mention-pop', role: 'listbox', 'aria-label': '提及成员', hidden: true });
    const form = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.submit(g); } },
      h('label', { class: 'sr-only', for: 'msg-input' }, `发消息到 ${g.info.name}`),
      this.pop, this.input,
      h('button', { type: 'button', class: 'icon', 'aria-label': '提及成员', onclick: () => this.insertAt() }, '@'),
      h('button', { type: 'submit', class: 'primary send' }, '发送'));
    this.input.addEventListener('keydown', (e) => this.onKey(e, g));
    this.input.addEventListener('input', () => { this.autosize(); this.updatePop(g); });
    replace(this.conv,
      h('header', { class: 'conv-head' },
        h('a', { href: '#/chats', class: 'back', 'aria-label': '返回群聊列表' }, '‹ 返回'),
        h('h2', {}, g.info.name), this.presenceBtn),
      this.panel, this.scroller, this.live, form);
    this.renderPresence(g);
    this.renderMessages('bottom');
  }

  togglePanel() {
    const open = this.panel.hidden;
    this.panel.hidden = !open;
    this.presenceBtn.setAttribute('aria-expanded', String(open));
  }

  renderPresence(g) {
    if (!this.presenceBtn || !this.presenceBtn.isConnected) return;
    const members = g.info.members;
    const online = members.filter((m) => g.presence.has(m.id)).length;
    this.presenceBtn.textContent = `在线 ${online}/${members.length}`;
    replace(this.panel, h('h3', {}, '成员'), h('ul', {}, [...members]
      .sort((a, b) => Number(g.presence.has(b.id)) - Number(g.presence.has(a.id)))
      .map((m) => h('li', { class: g.presence.has(m.id) ? 'online' : 'away' },
        h('span', { class: 'dot', 'aria-hidden': 'true' }), m.name,
        g.info.owners.includes(m.id) ? h('span', { class: 'tag' }, '群主') : null,
        h('span', { class: 'sr-only' }, g.presence.has(m.id) ? '（在线）' : '（不在线）')))));
  }

  renderMessages(mode) {
    const g = this.open;
    if (!g || !this.listMsgs || !this.listMsgs.isConnected) return;
    const sc = this.scroller;
    const atBottom = sc.scrollHeight - sc.scrollTop - sc.clientHeight < 60;
    const oldHeight = sc.scrollHeight;
    const oldTop = sc.scrollTop;
    const offsets = [...g.msgs.keys()].sort((a, b) => a - b);
    const items = [];
    let day = '';
    let prevFrom = null;
    for (const off of offsets) {
      const m = g.msgs.get(off);
      const d = fmtDay(m.ts);
      if (d !== day) { items.push(h('li', { class: 'day', role: 'separator' }, d)); day = d; prevFrom = null; }
      items.push(this.messageEl(g, m, m.from === prevFrom));
      prevFrom = m.from;
    }
    for (const p of g.pending) {
      if (p.matched) continue;
      items.push(this.messageEl(g, { data: p.data, from: this.me, ts: p.ts }, false, p));
    }
    replace(this.listMsgs, items);
    this.olderBtn.hidden = g.atStart && !g.loading;
    this.olderBtn.disabled = g.loading;
    this.olderBtn.textContent = g.loading ? '正在加载…' : '加载更早的消息';
    if (g.atStart && g.msgs.size) this.listMsgs.prepend(h('li', { class: 'start' }, '以上是全部消息'));
    if (mode === 'bottom' || (mode === 'follow' && atBottom)) sc.scrollTop = sc.scrollHeight;
    else if (mode === 'anchor') sc.scrollTop = oldTop + (sc.scrollHeight - oldHeight);
    if (mode === 'follow' && !atBottom) this.live.textContent = '有新消息';
  }

  messageEl(g, m, grouped, pending = null) {
    const mine = m.from === this.me;
    const who = m.from === null || m.from === undefined ? '系统' : (g.names.get(m.from) ?? m.from);
    const mentionsMe = (m.data?.mentions || []).some((x) => x === this.me || x === 'all');
    let status = null;
    if (pending) {
      const text = { sending: '发送中…', waiting: '未连接，恢复后自动发送', failed: `发送失败：${pending.error}` }[pending.state];
      status = h('span', { class: `status ${pending.state}` }, text,
        pending.state === 'failed' ? h('button', { type: 'button', class: 'link', onclick: () => {
          pending.state = 'waiting'; this.flush(g); } }, '重试') : null);
    }
    return h('li', {
      class: `msg${mine ? ' mine' : ''}${grouped ? ' grouped' : ''}${pending ? ' pending' : ''}${mentionsMe && !mine ? ' mentioned' : ''}`,
      dataset: pending ? { pending: pending.idem } : { offset: String(m.offset) },
    },
    h('div', { class: 'meta' }, h('span', { class: 'who' }, mine ? '我' : who), ' ', h('time', {}, fmtTime(m.ts))),
    h('div', { class: 'bubble' }, this.textNodes(g, m.data), this.attachments(m.data?.attachments)),
    status);
  }

  textNodes(g, data) {
    const text = data?.text ?? '';
    const names = (data?.mentions || []).map((x) => (x === 'all' ? '所有人' : g.names.get(x) ?? x));
    if (!names.length) return text;
    const re = new RegExp(`(${names.map((n) => '@' + n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'g');
    return text.split(re).map((part, i) => (i % 2 ? h('mark', { class: 'mention' }, part) : part));
  }

  attachments(list) {
    if (!Array.isArray(list) || !list.length) return null;
    return h('ul', { class: 'attachments' }, list.map((a) => h('li', {},
      h('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer' }, `📎 ${a.name}`),
      a.size ? ` ${fmtSize(a.size)}` : '')));
  }

  onScroll(g) {
    if (this.scroller.scrollTop < 80) this.loadOlder(g);
    if (this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 60) {
      this.live.textContent = '';
      this.markRead(g);
    }
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = Math.min(this.input.scrollHeight, 160) + 'px';
  }

  submit(g) {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = '';
    this.autosize();
    this.closePop();
    this.send(g, text);
    this.input.focus();
  }

  // -- mentions -----------------------------------------------------------------------
  insertAt() {
    const i = this.input;
    const pos = i.selectionStart ?? i.value.length;
    const before = i.value.slice(0, pos);
    const sep = before && !/\s$/.test(before) ? ' ' : '';
    i.value = before + sep + '@' + i.value.slice(pos);
    i.focus();
    i.selectionStart = i.selectionEnd = pos + sep.length + 1;
    this.updatePop(this.open);
  }

  updatePop(g) {
    const i = this.input;
    const m = /@([^\s@]*)$/.exec(i.value.slice(0, i.selectionStart ?? i.value.length));
    if (!m) { this.closePop(); return; }
    const q = m[1].toLowerCase();
    const people = g.info.members.filter((x) => x.id !== this.me)
      .map((x) => ({ id: x.id, name: x.name }));
    people.unshift({ id: 'all', name: '所有人' });
    this.popItems = people.filter((x) => !q || x.name.toLowerCase().includes(q) || x.id.toLowerCase().includes(q)).slice(0, 8);
    if (!this.popItems.length) { this.closePop(); return; }
    this.popIndex = Math.min(this.popIndex, this.popItems.length - 1);
    this.popQuery = m[0];
    this.renderPop();
  }

  renderPop() {
    replace(this.pop, this.popItems.map((x, k) => h('li', {
      id: `mention-${k}`, role: 'option', 'aria-selected': String(k === this.popIndex),
      class: k === this.popIndex ? 'active' : '',
      onmousedown: (e) => { e.preventDefault(); this.popIndex = k; this.choose(); },
    }, x.name, x.id !== 'all' ? h('span', { class: 'muted' }, ` ${x.id}`) : null)));
    this.pop.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    this.input.setAttribute('aria-activedescendant', `mention-${this.popIndex}`);
  }

  closePop() {
    if (!this.pop) return;
    this.pop.hidden = true;
    this.popItems = [];
    this.popIndex = 0;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  choose() {
    const x = this.popItems[this.popIndex];
    if (!x) return;
    const i = this.input;
    const pos = i.selectionStart ?? i.value.length;
    const start = pos - this.popQuery.length;
    const ins = `@${x.name} `;
    i.value = i.value.slice(0, start) + ins + i.value.slice(pos);
    i.selectionStart = i.selectionEnd = start + ins.length;
    this.closePop();
    i.focus();
  }

  onKey(e, g) {
    const popOpen = this.pop && !this.pop.hidden && this.popItems.length;
    if (popOpen && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      const n = this.popItems.length;
      this.popIndex = (this.popIndex + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.renderPop();
      return;
    }
    if (popOpen && (e.key === 'Enter' || e.key === 'Tab') && !e.isComposing) { e.preventDefault(); this.choose(); return; }
    if (popOpen && e.key === 'Escape') { e.preventDefault(); this.closePop(); return; }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); this.submit(g); }
  }
}
