import t from 'tap';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { oneService, parse, position, service, show } from './helpers.js';

const check = (body: string): HealthCheckConfig => service(body).healthCheck;
const udpCheck = (hc: string): HealthCheckConfig => service(`protocol: udp\nhealthCheck: ${hc}`).healthCheck;

t.test('absent, empty, shorthand', async (t) => {
  t.match(check(''), { type: 'none', steps: [] }, 'no healthCheck: members are not probed');
  t.match(check('healthCheck:'), { type: 'tcp', interval: 1000, fastInterval: 250, downInterval: 2000, timeout: 500, rise: 2, fall: 2, jitter: 0.1 }, '`healthCheck:` alone is a tcp check with defaults');
  t.match(check('healthCheck: http'), { type: 'http', path: '/', expectStatus: [200] }, 'a type alone');
  t.match(check('healthCheck: { type: none }'), { type: 'none' });
  t.match(udpCheck('dns'), { type: 'dns', query: '.', queryType: 'NS' }, 'dns asks what dig asks by default');
});

t.test('timing', async (t) => {
  t.match(check('healthCheck: { interval: 100ms }'), { interval: 100, fastInterval: 100 }, 'fastInterval never slows a short interval');
  t.match(check('healthCheck: { interval: 5s }'), { interval: 5000, fastInterval: 250, downInterval: 2000 });
  t.match(check('healthCheck: { interval: 1s, fastInterval: 2s }'), { fastInterval: 2000 }, 'written is kept');
  t.equal(check('healthCheck: { jitter: "25%" }').jitter, 0.25);
  t.equal(check('healthCheck: { jitter: 0.3 }').jitter, 0.3);
  t.equal(check('healthCheck: { jitter: 0 }').jitter, 0);
  t.equal(check('healthCheck: { port: 8081 }').port, 8081);
  t.equal(check('healthCheck: {}').port, undefined);
});

t.test('send-expect: one step, or steps, with text, regex or hex', async (t) => {
  t.same(check('healthCheck: { type: send-expect, send: "PING\\r\\n", expect: "+PONG" }').steps, [
    { send: Buffer.from('PING\r\n'), expect: { kind: 'string', value: '+PONG' } },
  ]);
  const steps = check(`healthCheck:
  type: send-expect
  steps:
    - { expectRegex: "^220 " }
    - { send: "EHLO switchyard\\r\\n", expect: "250" }
    - { sendHex: "0a 0B", expectHex: "ff00" }
    - { send: "QUIT\\r\\n" }`).steps;
  t.equal(steps.length, 4);
  t.same(steps[0], { expect: { kind: 'regex', value: /^220 / } });
  t.same(steps[1], { send: Buffer.from('EHLO switchyard\r\n'), expect: { kind: 'string', value: '250' } });
  t.same(steps[2], { send: Buffer.from([0x0a, 0x0b]), expect: { kind: 'hex', value: Buffer.from([0xff, 0x00]) } });
  t.same(steps[3], { send: Buffer.from('QUIT\r\n') });
  t.same(udpCheck('{ type: udp-send-expect, sendHex: "ff", expect: pong }').steps, [{ send: Buffer.from([0xff]), expect: { kind: 'string', value: 'pong' } }]);
});

t.test('http', async (t) => {
  t.match(check('healthCheck: { type: http, path: /healthz?full=1, host: api.internal, expectBody: ok }'), {
    path: '/healthz?full=1',
    host: 'api.internal',
    expectBody: { kind: 'string', value: 'ok' },
  });
  t.same(check('healthCheck: { type: http, expectBodyRegex: "\\"status\\":\\\\s*\\"up\\"" }').expectBody, { kind: 'regex', value: /"status":\s*"up"/ });
  const status = (v: string) => check(`healthCheck: { type: http, expectStatus: ${v} }`).expectStatus;
  t.same(status('204'), [204]);
  t.same(status('[200, 204]'), [200, 204]);
  t.same(status('[204, 200, 200]'), [200, 204], 'sorted, once each');
  t.same(status('"2xx"'), Array.from({ length: 100 }, (_, i) => 200 + i));
  const range = status('"200-399"');
  t.equal(range.length, 200);
  t.equal(range[0], 200);
  t.equal(range.at(-1), 399);
  t.same(status('["2xx", 404]').slice(-2), [299, 404]);
});

t.test('databases, agent, dns', async (t) => {
  t.match(check('healthCheck: postgres'), { type: 'postgres', user: 'postgres' }, 'postgres needs a user: postgres by default');
  t.match(check('healthCheck: { type: postgres, user: chk, password: pw, database: app, role: primary }'), { user: 'chk', password: 'pw', database: 'app', role: 'primary' });
  t.match(check('healthCheck: { type: redis, role: replica, password: pw }'), { type: 'redis', role: 'replica', password: 'pw' });
  t.equal(check('healthCheck: redis').user, undefined);
  t.match(check('healthCheck: { type: mysql, user: chk, role: replica }'), { user: 'chk', role: 'replica' });
  t.match(check('healthCheck: { type: agent, port: 9999, agentSend: "hello\\n" }'), { type: 'agent', port: 9999, agentSend: 'hello\n' });
  t.match(udpCheck('{ type: dns, query: example.com }'), { query: 'example.com', queryType: 'A' }, 'a named query asks for A records');
  t.match(udpCheck('{ type: dns, query: example.com, queryType: MX }'), { queryType: 'MX' });
});

interface Case {
  name: string;
  body: string;
  path: string;
  at: string;
  message: RegExp;
}

const errors: Case[] = [
  { name: 'udp check without a type', body: 'protocol: udp\nhealthCheck: { interval: 1s }', path: 'services[0].healthCheck', at: '{ interval', message: /a udp service's health check needs a `type`: dns \| udp-send-expect \| none/ },
  { name: 'udp type on a tcp service', body: 'healthCheck: dns', path: 'services[0].healthCheck.type', at: 'dns', message: /type dns checks udp services; a tcp service takes none \| tcp \| send-expect \| http \| redis \| postgres \| mysql \| agent/ },
  { name: 'tcp type on a udp service', body: 'protocol: udp\nhealthCheck: { type: http }', path: 'services[0].healthCheck.type', at: 'http }', message: /type http checks tcp services; a udp service takes none \| dns \| udp-send-expect/ },
  { name: 'unknown type', body: 'healthCheck: { type: htp }', path: 'services[0].healthCheck.type', at: 'htp', message: /did you mean `http`/ },
  { name: 'key of another type', body: 'healthCheck: { type: tcp, path: /x }', path: 'services[0].healthCheck.path', at: 'path', message: /^`path` does not apply to type tcp$/ },
  { name: 'unknown key', body: 'healthCheck: { intervall: 1s }', path: 'services[0].healthCheck.intervall', at: 'intervall', message: /did you mean `interval`/ },
  { name: 'rise 0', body: 'healthCheck: { rise: 0 }', path: 'services[0].healthCheck.rise', at: 'rise: »0', message: /expected an integer from 1 to 100, got 0/ },
  { name: 'timeout 0', body: 'healthCheck: { timeout: 0 }', path: 'services[0].healthCheck.timeout', at: 'timeout: »0', message: /must be longer than 0/ },
  { name: 'jitter as a whole number', body: 'healthCheck: { jitter: 10 }', path: 'services[0].healthCheck.jitter', at: '10 }', message: /got 10; for 10 percent write "10%"/ },
  { name: 'jitter over 100%', body: 'healthCheck: { jitter: "150%" }', path: 'services[0].healthCheck.jitter', at: '"150%"', message: /expected a percentage like "10%" or a fraction from 0 to 1, got "150%"/ },
  { name: 'check port 0', body: 'healthCheck: { port: 0 }', path: 'services[0].healthCheck.port', at: 'port: »0', message: /from 1 to 65535/ },
  { name: 'send-expect with nothing', body: 'healthCheck: send-expect', path: 'services[0].healthCheck', at: 'send-expect', message: /needs something to send or expect/ },
  { name: 'send and sendHex', body: 'healthCheck: { type: send-expect, send: a, sendHex: "61" }', path: 'services[0].healthCheck.sendHex', at: 'sendHex', message: /give `send` or `sendHex`, not both/ },
  { name: 'two expectations', body: 'healthCheck: { type: send-expect, expect: a, expectRegex: b }', path: 'services[0].healthCheck.expectRegex', at: 'expectRegex', message: /give one of `expect`, `expectRegex`, `expectHex`, not `expect` and `expectRegex`/ },
  { name: 'bad regex', body: 'healthCheck: { type: send-expect, expectRegex: "(" }', path: 'services[0].healthCheck.expectRegex', at: '"("', message: /not a valid regular expression: .*Unterminated group/ },
  { name: 'odd hex', body: 'healthCheck: { type: send-expect, sendHex: "abc" }', path: 'services[0].healthCheck.sendHex', at: '"abc"', message: /expected hex bytes like "0a1b2c"/ },
  { name: 'steps and inline', body: 'healthCheck: { type: send-expect, send: a, steps: [{ send: b }] }', path: 'services[0].healthCheck.send', at: 'send: a', message: /cannot be used with `steps`: put it in a step/ },
  { name: 'empty step', body: 'healthCheck: { type: send-expect, steps: [{ send: a }, {}] }', path: 'services[0].healthCheck.steps[1]', at: '{}', message: /a step needs/ },
  { name: 'empty steps', body: 'healthCheck: { type: send-expect, steps: [] }', path: 'services[0].healthCheck.steps', at: '[]', message: /at least one step/ },
  { name: 'step unknown key', body: 'healthCheck: { type: send-expect, steps: [{ sned: a }] }', path: 'services[0].healthCheck.steps[0].sned', at: 'sned', message: /^unknown key `sned`; did you mean `send`\?$/ },
  { name: 'udp-send-expect must send first', body: 'protocol: udp\nhealthCheck: { type: udp-send-expect, expect: pong }', path: 'services[0].healthCheck', at: '{ type: udp', message: /must send first/ },
  { name: 'http path without slash', body: 'healthCheck: { type: http, path: healthz }', path: 'services[0].healthCheck.path', at: 'healthz', message: /starting with "\/"/ },
  { name: 'http status out of range', body: 'healthCheck: { type: http, expectStatus: [200, 99] }', path: 'services[0].healthCheck.expectStatus[1]', at: '99', message: /expected HTTP status codes/ },
  { name: 'http status range backwards', body: 'healthCheck: { type: http, expectStatus: "399-200" }', path: 'services[0].healthCheck.expectStatus', at: '"399-200"', message: /got "399-200"/ },
  { name: 'http both body checks', body: 'healthCheck: { type: http, expectBody: a, expectBodyRegex: b }', path: 'services[0].healthCheck.expectBodyRegex', at: 'expectBodyRegex', message: /not both/ },
  { name: 'role of another database', body: 'healthCheck: { type: redis, role: primary }', path: 'services[0].healthCheck.role', at: 'primary', message: /expected master \| replica, got "primary"/ },
  { name: 'database on redis', body: 'healthCheck: { type: redis, database: "0" }', path: 'services[0].healthCheck.database', at: 'database', message: /does not apply to type redis/ },
  { name: 'redis user without password', body: 'healthCheck: { type: redis, user: u }', path: 'services[0].healthCheck', at: '{ type: redis', message: /needs `password` too/ },
  { name: 'mysql role without user', body: 'healthCheck: { type: mysql, role: primary }', path: 'services[0].healthCheck', at: '{ type: mysql', message: /needs `user`/ },
  { name: 'agent without port', body: 'healthCheck: agent', path: 'services[0].healthCheck', at: 'agent', message: /an agent check needs `port`/ },
  { name: 'dns query type', body: 'protocol: udp\nhealthCheck: { type: dns, queryType: PTR }', path: 'services[0].healthCheck.queryType', at: 'PTR', message: /expected A \| AAAA \| SRV \| TXT \| NS \| MX/ },
  { name: 'a list for a check', body: 'healthCheck: [tcp]', path: 'services[0].healthCheck', at: '[tcp]', message: /expected a mapping of health-check keys, or a type such as "tcp", got a list/ },
];

for (const c of errors) {
  t.test(c.name, async (t) => {
    const text = oneService(c.body);
    const r = parse(text);
    t.equal(r.config, undefined);
    const issue = r.errors.find((e) => e.path === c.path && c.message.test(e.message));
    if (!t.ok(issue, `an issue at ${c.path} matching ${c.message}; got:\n${show(r.errors)}\n---\n${text}`)) return;
    t.same({ line: issue!.line, column: issue!.column }, position(text, c.at), `points at ${JSON.stringify(c.at)}`);
  });
}

t.test('warnings: a timeout past the interval; keys ignored with type none', async (t) => {
  const r = parse(oneService('healthCheck: { interval: 1s, timeout: 2s, fastInterval: 3s }'));
  t.ok(r.config);
  t.same(r.warnings.map((w) => w.path), ['services[0].healthCheck.timeout', 'services[0].healthCheck.fastInterval'], 'in file order');
  t.match(r.warnings[0]!.message, /longer than `interval`: a check may still be waiting/);
  t.match(r.warnings[1]!.message, /checks slow down while a member changes state/);
  const none = parse(oneService('healthCheck: { type: none, interval: 1s }'));
  t.ok(none.config, 'type none with timing keys is accepted');
  t.match(none.warnings.map(String), [/healthCheck\.interval: `interval` is ignored with type none/]);
});
