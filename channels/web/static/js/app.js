// The page's entry: sign-in (a token from the URL fragment, or the demo picker),
// the connection indicator, the tabs and the hash routes.
import { Hub } from './hub.js';
import { h, replace, api, toast } from './ui.js';
import { Chats } from './chat.js';
import { setReceiptStates } from './states.js';

const TOKEN_KEY = 'tongzhi.token';
const main = document.getElementById('main');
const STATE_TEXT = { connecting: '连接中…', connected: '已连接', reconnecting: '重新连接中…', offline: '离线', closed: '未连接' };

const app = {
  config: { demo: false, login_url: null },
  token: null,
  me: null,
  hub: null,
  chats: null,
  names: new Map(),
  nameOf(id) {
    if (id === null || id === undefined) return '系统';
    if (!app.names.has(id)) {
      app.names.set(id, id);
      api(`/api/web/names?ids=${encodeURIComponent(id)}`, { token: app.token }).then((r) => {
        if (r.names[id]) { app.names.set(id, r.names[id]); app.inbox?.changed(); }
      }).catch(() => {});
    }
    return app.names.get(id);
  },
  inbox: null,
  notices: null,
  badges() {
    const set = (id, n) => {
      const el = document.getElementById(id);
      el.hidden = !n;
      el.textContent = n > 99 ? '99+' : String(n || '');
      el.setAttribute('aria-label', n ? `${n} 条未读` : '');
    };
    const chats = app.chats ? app.chats.totalUnread() : 0;
    const inbox = app.inbox ? app.inbox.pendingCount() : 0;
    set('badge-chats', chats);
    set('badge-inbox', inbox);
    const n = chats + inbox;
    document.title = (n ? `(${n}) ` : '') + '通知 · 党务消息与通知';
  },
};
window.tongzhi = app; // for the browser console and the tests

function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search + '#/chats');
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (app.hub) app.hub.stop();
  location.hash = '';
  location.reload();
  if (message) toast(message);
}

async function showSignIn(message = '') {
  document.getElementById('top').hidden = true;
  const box = h('section', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, h('span', { class: 'mark big', 'aria-hidden': 'true' }, '通'), '通知'),
    h('p', { class: 'lead' }, '党务消息、通知签收与回执'),
    message ? h('p', { class: 'notice-warn', role: 'alert' }, message) : null);
  replace(main, box);
  if (app.config.demo) {
    let members = [];
    try { members = (await api('/api/demo/members')).members; } catch (err) { toast(err.message, 'error'); }
    box.append(h('h2', {}, '演示：选择一位成员进入'),
      h('ul', { class: 'demo-members' }, members.map((m) => h('li', {},
        h('button', { type: 'button', class: 'member-pick', dataset: { member: m.id }, onclick: () => demoSignIn(m.id) },
          h('span', { class: 'avatar', 'aria-hidden': 'true' }, m.name.slice(0, 1)),
          h('span', {}, h('strong', {}, m.name), h('span', { class: 'muted' }, ` ${m.role_names.join('、')}`),
            h('br'), h('span', { class: 'muted small' }, m.unit_name, m.flowing ? '（流动党员）' : '')))))));
    box.append(h('p', { class: 'muted small' }, '演示模式：无需密码。正式部署时由本单位的统一登录签发令牌。'));
  } else {
    box.append(h('p', {}, '请通过本单位的统一登录进入本页面。'));
    if (app.config.login_url) {
      const back = encodeURIComponent(location.origin + location.pathname);
      box.append(h('p', {}, h('a', { class: 'button primary', href: `${app.config.login_url}${app.config.login_url.includes('?') ? '&' : '?'}return=${back}` }, '前往单位登录')));
    }
  }
}

async function demoSignIn(member) {
  try {
    const r = await api('/api/demo/token', { method: 'POST', body: { member } });
    sessionStorage.setItem(TOKEN_KEY, r.token);
    location.hash = '#/chats';
    await start();
  } catch (err) { toast(`进入失败：${err.message}`, 'error'); }
}

function setConn(state) {
  const el = document.getElementById('conn');
  el.dataset.state = state;
  document.getElementById('conn-text').textContent = STATE_TEXT[state] ?? state;
}

async function start() {
  app.token = sessionStorage.getItem(TOKEN_KEY);
  if (!app.token) { await showSignIn(); return; }
  try {
    app.me = await api('/api/web/me', { token: app.token });
  } catch (err) {
    if (err.status === 401) { sessionStorage.removeItem(TOKEN_KEY); await showSignIn('登录已失效，请重新进入。'); return; }
    replace(main, h('p', { class: 'notice-warn', role: 'alert' }, `无法加载：${err.message}`));
    return;
  }
  const codec = new URLSearchParams(location.search).get('codec') === 'json' ? 'json' : 'msgpack';
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  app.hub = new Hub({ url: wsUrl, token: app.token, codec });
  app.hub.addEventListener('state', (ev) => setConn(ev.detail));
  app.hub.addEventListener('closed', (ev) => {
    const expired = ev.detail.code === 4013;
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(expired ? '登录已过期，请重新进入。' : `连接被拒绝：${ev.detail.reason || ev.detail.code}`);
  });
  setConn('connecting');
  for (const g of app.me.groups) for (const m of g.members) app.names.set(m.id, m.name);
  app.chats = new Chats(app);
  try {
    const { Inbox } = await import('./inbox.js');
    app.inbox = new Inbox(app);
  } catch (err) { console.warn('inbox', err); }
  if (app.me.sender) {
    try {
      const { Notices } = await import('./notices.js');
      app.notices = new Notices(app);
      document.getElementById('tab-sent').hidden = false;
    } catch (err) { console.warn('notices', err); }
  }
  document.getElementById('me-name').textContent = app.me.name;
  document.getElementById('top').hidden = false;
  document.getElementById('signout').onclick = () => signOut();
  app.hub.start();
  addEventListener('hashchange', route);
  route();
}

function route() {
  if (!app.me) return;
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [view, arg] = parts;
  for (const t of ['chats', 'inbox', 'sent']) {
    const tab = document.getElementById(`tab-${t}`);
    const on = view === t || (t === 'sent' && (view === 'compose' || view === 'notices')) || (t === 'chats' && !view);
    tab.classList.toggle('active', on);
    if (on) tab.setAttribute('aria-current', 'page'); else tab.removeAttribute('aria-current');
  }
  if (app.notices && view !== 'notices') app.notices.leave();
  if (view === 'inbox' && app.inbox) app.inbox.render(main, arg);
  else if (view === 'sent' && app.notices) app.notices.renderSent(main);
  else if (view === 'compose' && app.notices) app.notices.renderCompose(main);
  else if (view === 'notices' && app.notices && arg) app.notices.renderDashboard(main, arg);
  else app.chats.render(main, view === 'chats' ? arg : null);
  app.badges();
}

async function boot() {
  takeTokenFromFragment();
  try { app.config = await api('/api/web/config'); } catch { /* defaults */ }
  setReceiptStates(app.config.receipt_states ?? []);
  await start();
}

boot();
