/** Allow/deny CIDR lists: deny wins, IPv4-mapped clients and rules, bad CIDRs refused. */
import t from 'tap';
import { Acl, parseCidr } from '../../src/proxy/acl.js';

t.test('admits by allow and deny lists', async (t) => {
  const cases: { allow: string[]; deny: string[]; client: string; allowed: boolean }[] = [
    { allow: [], deny: [], client: '203.0.113.9', allowed: true },
    { allow: ['10.0.0.0/8'], deny: [], client: '10.1.2.3', allowed: true },
    { allow: ['10.0.0.0/8'], deny: [], client: '11.0.0.1', allowed: false },
    { allow: [], deny: ['10.0.0.0/8'], client: '10.1.2.3', allowed: false },
    { allow: [], deny: ['10.0.0.0/8'], client: '192.168.0.1', allowed: true },
    { allow: ['10.0.0.0/8'], deny: ['10.0.0.5'], client: '10.0.0.5', allowed: false },
    { allow: ['10.0.0.0/8'], deny: ['10.0.0.5'], client: '10.0.0.6', allowed: true },
    { allow: ['10.0.0.0/8'], deny: [], client: '::ffff:10.0.0.1', allowed: true },
    { allow: [], deny: ['127.0.0.0/8'], client: '::ffff:127.0.0.1', allowed: false },
    { allow: ['::ffff:10.0.0.0/104'], deny: [], client: '10.9.9.9', allowed: true },
    { allow: ['::ffff:10.0.0.0/104'], deny: [], client: '11.9.9.9', allowed: false },
    { allow: ['2001:db8::/32'], deny: [], client: '2001:db8:1::1', allowed: true },
    { allow: ['2001:db8::/32'], deny: [], client: '2001:db9::1', allowed: false },
    { allow: ['2001:db8::/32'], deny: [], client: '10.0.0.1', allowed: false },
    { allow: ['::/0'], deny: [], client: '10.0.0.1', allowed: true },
    { allow: ['0.0.0.0/0'], deny: [], client: '2001:db8::1', allowed: false },
    { allow: [], deny: ['::1'], client: '::1', allowed: false },
    { allow: ['10.0.0.1/32', '10.0.0.2/32'], deny: [], client: '10.0.0.2', allowed: true },
  ];
  for (const c of cases) {
    const acl = new Acl(c.allow, c.deny);
    t.equal(acl.allows(c.client), c.allowed, `allow ${JSON.stringify(c.allow)} deny ${JSON.stringify(c.deny)}: ${c.client}`);
  }
  t.ok(new Acl([], []).open, 'no rules: open');
  t.notOk(new Acl([], ['::1']).open);
});

t.test('parses CIDRs', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { network: '10.0.0.0', prefix: 8, family: 'ipv4' });
  t.same(parseCidr('10.0.0.1'), { network: '10.0.0.1', prefix: 32, family: 'ipv4' });
  t.same(parseCidr('::1'), { network: '::1', prefix: 128, family: 'ipv6' });
  t.same(parseCidr(' 2001:db8::/32 '), { network: '2001:db8::', prefix: 32, family: 'ipv6' });
  const bad: [string, RegExp][] = [
    ['10.0.0.0/33', /over 32/],
    ['::/129', /over 128/],
    ['10.0.0/8', /not an IP address/],
    ['example.com', /not an IP address/],
    ['10.0.0.0/', /not a number/],
    ['10.0.0.0/-1', /not a number/],
    ['10.0.0.0/8/8', /not a number/],
  ];
  for (const [text, message] of bad) {
    t.throws(() => parseCidr(text), { code: 'SWY_ERR_CONFIG_INVALID', message }, text);
  }
  t.throws(() => new Acl(['10.0.0.0/8', 'nonsense'], []), { code: 'SWY_ERR_CONFIG_INVALID' });
});
