/**
 * The dashboard at GET /: one self-contained page (no external assets) that
 * polls /status every two seconds and shows each service's members, and
 * offers drain / disable / enable with the admin token if one is set. The
 * page builds its DOM with textContent only, so no status text is ever parsed
 * as HTML, and its Content-Security-Policy allows just its own inline script
 * and style (by hash) and requests to this server.
 */
import { createHash } from 'node:crypto';

const style = `
:root { color-scheme: light dark; --fg: #1d232a; --muted: #6b7480; --line: #d9dee4; --bg: #fff; --head: #f4f6f8;
  --up: #1a7f37; --down: #cf222e; --draining: #bf8700; --disabled: #6e7781; --unknown: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --bg: #0d1117; --head: #161b22; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: baseline; padding: .75rem 1.25rem; background: var(--head); border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 1.2rem; }
header label { margin-left: auto; color: var(--muted); }
header input { font: inherit; padding: .15rem .4rem; width: 14rem; }
#meta { color: var(--muted); }
.bad { color: var(--down); font-weight: 600; }
main { padding: 0 1.25rem 1rem; }
section { margin-top: 1.25rem; overflow-x: auto; }
h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
h2 small { font-weight: 400; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
td.detail { max-width: 22rem; overflow: hidden; text-overflow: ellipsis; }
.state, .mode { display: inline-block; padding: 0 .45rem; border-radius: .6rem; color: #fff; font-size: .85em; font-weight: 600; }
.up, .primary { background: var(--up); } .down, .none { background: var(--down); } .draining, .backup, .panic { background: var(--draining); }
.disabled { background: var(--disabled); } .unknown, .pending { background: var(--unknown); }
button { font: inherit; font-size: .85em; margin-right: .25rem; padding: .1rem .5rem; cursor: pointer; }
#message { padding: 0 1.25rem; min-height: 1.4em; }
`;

const script = `
'use strict';
const byId = (id) => document.getElementById(id);
const tokenInput = byId('token');
tokenInput.value = sessionStorage.getItem('switchyard-token') || '';
tokenInput.addEventListener('change', () => sessionStorage.setItem('switchyard-token', tokenInput.value));

function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}
function span(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd' + Math.floor((s % 86400) / 3600) + 'h';
}
const ago = (iso) => span((Date.now() - Date.parse(iso)) / 1000);
function say(text, bad) {
  const m = byId('message');
  m.textContent = text;
  m.className = bad ? 'bad' : '';
}

async function act(service, member, action) {
  const headers = {};
  if (tokenInput.value) headers.Authorization = 'Bearer ' + tokenInput.value;
  const path = 'services/' + encodeURIComponent(service) + '/members/' + encodeURIComponent(member) + '/' + action;
  try {
    const r = await fetch(path, { method: 'POST', headers });
    const body = await r.json().catch(() => ({}));
    if (r.ok) say(service + ' ' + member + ': ' + action + ' done', false);
    else say(service + ' ' + member + ': ' + action + ' refused: ' + (body.error ? body.error.message : 'HTTP ' + r.status), true);
  } catch (e) {
    say(action + ' failed: ' + e.message, true);
  }
  refresh();
}

function memberRow(service, m) {
  const check = m.lastCheck
    ? (m.lastCheck.ok ? 'ok' : 'failed: ' + m.lastCheck.detail) + ' (' + m.lastCheck.durationMs + ' ms, ' + ago(m.lastCheck.at) + ' ago)'
    : '-';
  const checkCell = el('td', 'detail', check);
  if (m.lastCheck) checkCell.title = m.lastCheck.detail;
  const weight = el('td', '', m.weight === m.configWeight ? m.weight : m.weight + ' / ' + m.configWeight);
  const actions = el('td', '');
  for (const a of ['drain', 'disable', 'enable']) {
    const b = el('button', '', a);
    b.type = 'button';
    b.addEventListener('click', () => act(service, m.id, a));
    actions.append(b);
  }
  return el('tr', '',
    el('td', 'id', m.id),
    el('td', '', el('span', 'state ' + m.state, m.state)),
    el('td', '', m.health),
    el('td', '', (m.backup ? 'backup' : 'primary') + (m.routing ? ', serving' : '')),
    weight,
    el('td', '', m.active),
    el('td', '', bytes(m.bytesIn)),
    el('td', '', bytes(m.bytesOut)),
    el('td', '', ago(m.since)),
    checkCell,
    el('td', '', m.ejections),
    actions);
}

function render(status) {
  byId('meta').textContent = 'v' + status.version + ', up ' + span(status.uptimeSeconds);
  const all = document.createDocumentFragment();
  for (const s of status.services) {
    const head = el('tr', '');
    for (const h of ['member', 'state', 'health', 'role', 'weight', 'active', 'in', 'out', 'since', 'last check', 'ejections', ''])
      head.append(el('th', '', h));
    const body = el('tbody', '');
    for (const m of s.members) body.append(memberRow(s.name, m));
    all.append(el('section', '',
      el('h2', '', s.name + ' ',
        el('small', '', s.protocol + ' ' + s.listen + ', ' + s.balance + ', check ' + s.check + ', ' + s.active + ' open '),
        el('span', 'mode ' + s.mode, s.mode)),
      el('table', '', el('thead', '', head), body)));
  }
  if (status.services.length === 0) all.append(el('p', '', 'No services.'));
  byId('services').replaceChildren(all);
}

let timer;
async function refresh() {
  clearTimeout(timer);
  const conn = byId('conn');
  try {
    const r = await fetch('status', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    render(await r.json());
    conn.textContent = '';
    conn.className = '';
  } catch (e) {
    conn.textContent = 'cannot reach the balancer: ' + e.message;
    conn.className = 'bad';
  }
  timer = setTimeout(refresh, 2000);
}
refresh();
`;

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard</title>
<style>${style}</style>
</head>
<body>
<header>
<h1>Switchyard</h1>
<span id="meta"></span>
<span id="conn"></span>
<label>Admin token <input id="token" type="password" autocomplete="off"></label>
</header>
<main id="services"></main>
<p id="message" role="status"></p>
<script>${script}</script>
</body>
</html>
`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page and the headers that go with it, built once. */
export const dashboard = {
  body: Buffer.from(html),
  contentType: 'text/html; charset=utf-8',
  contentSecurityPolicy: [
    "default-src 'none'",
    `script-src ${hash(script)}`,
    `style-src ${hash(style)}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
} as const;
