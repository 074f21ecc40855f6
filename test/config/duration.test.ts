import t from 'tap';
import { MAX_DURATION_MS, formatDuration, formatSize, parseDuration, parseSize } from '../../src/config/duration.js';

t.test('durations: the forms the config takes', async (t) => {
  const cases: [unknown, number | undefined][] = [
    ['250ms', 250],
    ['2s', 2000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1s500ms', 1500],
    ['1.5s', 1500],
    ['2d', 172_800_000],
    ['0', 0],
    [0, 0],
    [' 2s ', 2000],
    // refused
    [2, undefined], // a bare number could be seconds or milliseconds
    ['2', undefined],
    ['', undefined],
    ['fast', undefined],
    ['2 s', undefined],
    ['2S', undefined],
    ['30m1h', undefined], // units go from large to small
    ['1s1s', undefined],
    ['-1s', undefined],
    ['0.5ms', undefined], // finer than a timer keeps
    ['1.0005s', undefined],
    [null, undefined],
    [true, undefined],
  ];
  for (const [input, want] of cases) t.equal(parseDuration(input), want, JSON.stringify(input));
});

t.test('sizes: IEC units or bytes', async (t) => {
  const cases: [unknown, number | undefined][] = [
    ['64KiB', 65_536],
    ['1MiB', 1_048_576],
    ['1GiB', 1_073_741_824],
    ['512B', 512],
    ['512', 512],
    [4096, 4096],
    ['64kib', 65_536],
    ['0.5KiB', 512],
    ['64KB', undefined], // 1000 or 1024? written as KiB instead
    ['64k', undefined],
    ['lots', undefined],
    [-1, undefined],
    [1.5, undefined],
  ];
  for (const [input, want] of cases) t.equal(parseSize(input), want, JSON.stringify(input));
});

t.test('formatting gives back what parses to the same value', async (t) => {
  for (const ms of [0, 1, 250, 1000, 1500, 90_000, 5_400_000, 86_400_000 + 1, MAX_DURATION_MS]) {
    t.equal(parseDuration(formatDuration(ms)), ms, formatDuration(ms));
  }
  t.equal(formatDuration(5_400_000), '1h30m');
  t.equal(formatSize(65_536), '64KiB');
  t.equal(formatSize(1000), '1000B');
  t.equal(parseSize(formatSize(3 * 1024 ** 2)), 3 * 1024 ** 2);
});
