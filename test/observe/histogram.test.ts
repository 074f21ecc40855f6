import t from 'tap';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../../src/observe/histogram.js';

const buckets = [0.001, 0.01, 0.1, 1];
const name = 'test_duration_seconds';
const help = 'A duration';
// On a bound, below the first, above the last, and between.
const observations: [string, number][] = [
  ['a', 0.001],
  ['a', 0.0004],
  ['a', 7],
  ['b', 0.05],
  ['a', 0.05],
  ['b', 1],
];

function pair(): { ours: Registry; theirs: Registry; fast: FastHistogram; reference: Histogram<string> } {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new FastHistogram({ name, help, labelNames: ['service'], buckets, registry: ours });
  const reference = new Histogram({ name, help, labelNames: ['service'], buckets, registers: [theirs] });
  return { ours, theirs, fast, reference };
}

/** What the aggregator reads of a worker's JSON (prom-client adds empty exemplars, which it ignores). */
async function samples(registry: Registry): Promise<unknown[]> {
  return (await registry.getMetricsAsJSON()).map((m) => ({
    name: m.name,
    type: m.type,
    values: m.values.map((v) => ({ metricName: (v as { metricName?: string }).metricName, labels: v.labels, value: v.value })),
  }));
}

t.test('scrapes exactly as prom-client Histogram does for the same observations', async (t) => {
  const { ours, theirs, fast, reference } = pair();
  for (const [service, v] of observations) {
    fast.labels({ service }).observe(v);
    reference.labels({ service }).observe(v);
  }
  t.equal(await ours.metrics(), await theirs.metrics(), 'text exposition');
  t.same(await samples(ours), await samples(theirs), 'JSON samples, as cluster workers send them');
});

t.test('sums across registries the way the cluster primary aggregates workers', async (t) => {
  const a = pair();
  const b = pair();
  for (const [i, [service, v]] of observations.entries()) {
    const side = i % 2 === 0 ? a : b;
    side.fast.labels({ service }).observe(v);
    side.reference.labels({ service }).observe(v);
  }
  const ours = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
  const theirs = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]);
  t.equal(await ours.metrics(), await theirs.metrics());
});

t.test('a removed label set is gone from the scrape; others stay; non-finite values are ignored', async (t) => {
  const { ours, fast } = pair();
  fast.labels({ service: 'a' }).observe(0.5);
  fast.labels({ service: 'b' }).observe(0.5);
  fast.labels({ service: 'b' }).observe(Number.NaN);
  fast.labels({ service: 'b' }).observe(Number.POSITIVE_INFINITY);
  fast.remove({ service: 'a' });
  const text = await ours.metrics();
  t.notMatch(text, /service="a"/);
  t.match(text, /^test_duration_seconds_count\{service="b"\} 1$/m);
  t.match(text, /^test_duration_seconds_sum\{service="b"\} 0\.5$/m);
  ours.resetMetrics();
  t.notMatch(await ours.metrics(), /service="b"/, 'resetMetrics empties it');
});
