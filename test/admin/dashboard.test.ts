/**
 * The dashboard's script, run in a VM against a minimal DOM (just what the
 * page uses), with fetch answered by a real /status document.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { dashboard } from '../../src/admin/dashboard.js';
import { renderStatus } from '../../src/admin/status.js';
import { fakeService } from '../observe/fake-service.js';

class FakeNode {
  children: FakeNode[] = [];
  #text = '';
  append(...nodes: Array<FakeNode | string>): void {
    for (const n of nodes) {
      if (typeof n === 'string') this.children.push(new FakeText(n));
      else if (n instanceof FakeFragment) this.children.push(...n.children.splice(0));
      else this.children.push(n);
    }
  }
  replaceChildren(...nodes: FakeNode[]): void {
    this.children = [];
    this.#text = '';
    this.append(...nodes);
  }
  get textContent(): string {
    return this.#text + this.children.map((c) => c.textContent).join('');
  }
  set textContent(v: string) {
    this.children = [];
    this.#text = v;
  }
  *walk(): Generator<FakeNode> {
    yield this;
    for (const c of this.children) yield* c.walk();
  }
}
class FakeText extends FakeNode {
  constructor(text: string) {
    super();
    this.textContent = text;
  }
}
class FakeFragment extends FakeNode {}
class FakeElement extends FakeNode {
  className = '';
  title = '';
  type = '';
  value = '';
  readonly listeners = new Map<string, () => void>();
  readonly tagName: string;
  constructor(tagName: string) {
    super();
    this.tagName = tagName;
  }
  addEventListener(event: string, fn: () => void): void {
    this.listeners.set(event, fn);
  }
}

function scriptOf(page: string): string {
  const m = /<script>([\s\S]*)<\/script>/.exec(page);
  if (!m) throw new Error('no inline script');
  return m[1]!;
}

t.test('the inline script and style match the CSP hashes', async (t) => {
  const page = dashboard.body.toString();
  const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
  t.match(dashboard.contentSecurityPolicy, `script-src ${hash(scriptOf(page))}`);
  const style = /<style>([\s\S]*)<\/style>/.exec(page)![1]!;
  t.match(dashboard.contentSecurityPolicy, `style-src ${hash(style)}`);
});

t.test('renders /status and posts member actions with the token', async (t) => {
  const svc = fakeService('pg', ['127.0.0.1:6001', ['[::1]:6002', { backup: true }]]);
  svc.members[0]!.setFlag('adminDrain', true, { source: 'admin', detail: 'admin drain' });
  svc.members[0]!.bytesOut = 5 * 1024 * 1024;
  svc.members[0]!.lastCheck = { at: Date.now() - 1000, ok: false, detail: 'connect ECONNREFUSED <script>', durationMs: 2 };
  const status = JSON.parse(JSON.stringify(renderStatus([svc])));

  const ids = new Map<string, FakeElement>(['token', 'meta', 'conn', 'services', 'message'].map((id) => [id, new FakeElement(id)]));
  const storage = new Map<string, string>([['switchyard-token', 'tok']]);
  const calls: Array<{ url: string; method: string; headers: Record<string, string> }> = [];
  const context = {
    Node: FakeNode,
    document: {
      getElementById: (id: string) => ids.get(id),
      createElement: (tag: string) => new FakeElement(tag),
      createTextNode: (text: string) => new FakeText(text),
      createDocumentFragment: () => new FakeFragment(),
    },
    sessionStorage: { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => storage.set(k, v) },
    fetch: async (url: string, opts: { method?: string; headers?: Record<string, string> } = {}) => {
      calls.push({ url, method: opts.method ?? 'GET', headers: opts.headers ?? {} });
      if (url === 'status') return { ok: true, status: 200, json: async () => status };
      return { ok: false, status: 401, json: async () => ({ error: { code: 'SWY_ERR_ADMIN_UNAUTHORIZED', message: 'a bearer token is required' } }) };
    },
    setTimeout: () => 0,
    clearTimeout: () => undefined,
    Date,
    Math,
    String,
    JSON,
    encodeURIComponent,
  };
  runInNewContext(scriptOf(dashboard.body.toString()), context, { timeout: 5_000 });
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  await settle();

  const services = ids.get('services')!;
  const text = services.textContent;
  t.match(text, 'pg');
  t.match(text, '127.0.0.1:6001');
  t.match(text, '[::1]:6002');
  t.match(text, 'draining');
  t.match(text, '/adminDrain');
  t.match(text, '5.0 MiB');
  t.match(text, 'failed: connect ECONNREFUSED <script>', 'status text is shown as text');
  t.match(text, 'backup');
  t.match(ids.get('meta')!.textContent, /^v\S+, up \d+/);
  t.equal(ids.get('conn')!.textContent, '', 'no connection error');
  t.equal(ids.get('token')!.value, 'tok', 'token restored from the session');

  const buttons = [...services.walk()].filter((n): n is FakeElement => n instanceof FakeElement && n.tagName === 'button');
  t.equal(buttons.length, 6, 'drain, disable, enable per member');
  const drainV6 = buttons[3]!;
  t.equal(drainV6.textContent, 'drain');
  drainV6.listeners.get('click')!();
  await settle();
  const post = calls.find((c) => c.method === 'POST');
  t.same(post, { url: 'services/pg/members/%5B%3A%3A1%5D%3A6002/drain', method: 'POST', headers: { Authorization: 'Bearer tok' } });
  t.match(ids.get('message')!.textContent, 'refused: a bearer token is required');
  t.ok(calls.filter((c) => c.url === 'status').length >= 2, 'refreshed after the action');
});
