import t from 'tap';
import { parseYaml, type YamlDocument } from '../../src/config/yaml.js';

function doc(text: string): YamlDocument {
  const r = parseYaml(text);
  if (!r.ok) throw new Error(r.message);
  return r.doc;
}

/** Line and column (1-based) of the first occurrence of `snippet` in `text`. */
function at(text: string, snippet: string, nth = 0): { line: number; column: number } {
  let idx = -1;
  for (let i = 0; i <= nth; i++) idx = text.indexOf(snippet, idx + 1);
  if (idx < 0) throw new Error(`no ${snippet}`);
  const before = text.slice(0, idx);
  return { line: before.split('\n').length, column: idx - before.lastIndexOf('\n') };
}

const text = `# comment first
log: { level: info, access: true }
workers: 2
services:
  - name: pg
    listen: 0.0.0.0:6432   # trailing comment
    healthCheck:
      type: http
      expectStatus: [200, "300-399"]
    members:
      - 10.0.0.1:5432
      - { address: 10.0.0.2:5432, weight: 5 }
      - address: 10.0.0.3:5432
        backup: true
    deny:
  - name: "quoted"
    'listen': "127.0.0.1:1"
    odd key: 1
`;

t.test('keys and values map to where they were written', async (t) => {
  const d = doc(text);
  const cases: [string, 'key' | 'value', string, number?][] = [
    ['log', 'key', 'log:'],
    ['log', 'value', '{ level'],
    ['log.level', 'key', 'level:'],
    ['log.level', 'value', 'info'],
    ['log.access', 'value', 'true'],
    ['workers', 'value', '2'],
    ['services', 'key', 'services:'],
    ['services[0]', 'value', 'name: pg'],
    ['services[0].name', 'value', 'pg'],
    ['services[0].listen', 'key', 'listen:'],
    ['services[0].listen', 'value', '0.0.0.0:6432'],
    ['services[0].healthCheck', 'key', 'healthCheck:'],
    ['services[0].healthCheck', 'value', 'type: http'],
    ['services[0].healthCheck.type', 'value', 'http'],
    ['services[0].healthCheck.expectStatus[1]', 'value', '"300-399"'],
    ['services[0].members[0]', 'value', '10.0.0.1:5432'],
    ['services[0].members[1]', 'value', '{ address: 10.0.0.2'],
    ['services[0].members[1].weight', 'value', '5 }'],
    ['services[0].members[2].address', 'value', '10.0.0.3:5432'],
    ['services[0].members[2].backup', 'key', 'backup:'],
    ['services[1].name', 'value', '"quoted"'],
    ['services[1].listen', 'key', "'listen'"],
    ['services[1]["odd key"]', 'key', 'odd key'],
  ];
  for (const [path, kind, snippet, nth] of cases) {
    const got = kind === 'key' ? d.keyAt(path) : d.valueAt(path);
    t.same(got, at(text, snippet, nth), `${kind} of ${path}`);
  }
});

t.test('an empty value points at its key, not at the next line', async (t) => {
  const d = doc(text);
  t.same(d.valueAt('services[0].deny'), at(text, 'deny:'));
});

t.test('paths not in the document fall back to the nearest enclosing node', async (t) => {
  const d = doc(text);
  t.same(d.valueAt('services[0].healthCheck.interval'), at(text, 'type: http'));
  t.same(d.keyAt('services[0].members[1].backup'), at(text, '{ address: 10.0.0.2'));
  t.same(d.valueAt('services[7].listen'), at(text, '- name: pg'));
});

t.test('empty list items do not shift the positions of later items', async (t) => {
  const src = 'list:\n  - a\n  -\n  - b\n';
  t.same(doc(src).valueAt('list[2]'), at(src, 'b\n'));
});

t.test('keys brought in by a merge point at the merge; aliases at their use', async (t) => {
  const src = `base: &base
  interval: 2s
svc:
  <<: *base
  timeout: 1s
other: *base
`;
  const d = doc(src);
  t.same(d.keyAt('svc.interval'), at(src, '<<'));
  t.same(d.keyAt('svc.timeout'), at(src, 'timeout'));
  t.same(d.valueAt('other.interval'), at(src, '*base', 1));
});

t.test('Windows line ends', async (t) => {
  const src = 'a: 1\r\nb:\r\n  c: x\r\n';
  t.same(doc(src).valueAt('b.c'), { line: 3, column: 6 });
});

t.test('YAML errors carry their position', async (t) => {
  const cases: [string, number, RegExp][] = [
    ['a: 1\nb: [1, 2\n', 3, /flow collection/],
    ['a: 1\na: 2\n', 2, /duplicated mapping key/],
    ['a:\n\t- x\n', 2, /tab/],
  ];
  for (const [src, line, message] of cases) {
    const r = parseYaml(src);
    t.equal(r.ok, false, src);
    if (r.ok) continue;
    t.equal(r.position.line, line, `line of ${JSON.stringify(src)}`);
    t.match(r.message, message);
  }
});
