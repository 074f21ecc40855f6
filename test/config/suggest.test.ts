import t from 'tap';
import { levenshtein, suggest } from '../../src/config/suggest.js';

t.test('edit distance', async (t) => {
  t.equal(levenshtein('kitten', 'sitting'), 3);
  t.equal(levenshtein('', 'abc'), 3);
  t.equal(levenshtein('same', 'same'), 0);
});

t.test('the nearest known key, when it is near enough', async (t) => {
  const keys = ['healthCheck', 'connectTimeout', 'idleTimeout', 'listen', 'log', 'members'];
  const cases: [string, string | undefined][] = [
    ['helthCheck', 'healthCheck'],
    ['healthcheck', 'healthCheck'],
    ['health_check', 'healthCheck'],
    ['connect_timeout', 'connectTimeout'],
    ['listne', 'listen'],
    ['member', 'members'],
    ['lg', 'log'],
    ['foo', undefined],
    ['timeout', undefined],
  ];
  for (const [key, want] of cases) t.equal(suggest(key, keys), want, key);
});

t.test('failing that, the one key that starts the same way', async (t) => {
  const keys = ['consecutiveFailures', 'ejectTime', 'maxEjectTime', 'maxEjectedPercent'];
  t.equal(suggest('consecutiveErrors', keys), 'consecutiveFailures');
  t.equal(suggest('maxEjectedShare', keys), undefined, 'two keys start with maxEject: no guess');
});

t.test('a swap of two neighbouring letters is one slip', async (t) => {
  t.equal(levenshtein('sned', 'send'), 1);
  t.equal(suggest('sned', ['send', 'sendHex', 'expect']), 'send');
});
