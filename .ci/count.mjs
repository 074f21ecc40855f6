// Reads raw TAP on stdin (tap -R tap), echoes it, and ends with the plain
// `N passed, N failed` line the CI reads, counting every assertion at every
// depth (a subtest's own result line carries a time, a leaf assertion none).
// Exits non-zero on any failure. With --add FILE, the counts and failure names of an
// earlier run (kept in FILE; missing or empty: none) are added in, and the sums kept there
// for the next, so the last lines of a multi-run CI log name every failure of every run.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Parser } from 'tap-parser';

const addTo = process.argv[2] === '--add' ? process.argv[3] : undefined;

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

/** Watches one parser (a file or subtest); `state.fails` counts failures within it, nested ones included. */
function watch(parser, parent, path) {
  const state = { parent, fails: 0, lastChild: undefined };
  const fail = (name) => {
    failed++;
    failures.push(name);
    for (let s = state; s; s = s.parent) s.fails++;
  };
  parser.on('child', (child) => {
    state.lastChild = watch(child, state, [...path, child.name]);
  });
  parser.on('assert', (a) => {
    const name = [...path, a.name].join(' > ');
    if (a.time) {
      // A subtest that crashed or timed out fails without a failing assertion of its own.
      if (!a.ok && !a.skip && !a.todo && !(state.lastChild?.fails > 0)) fail(name);
      return;
    }
    if (a.skip || a.todo) skipped++;
    else if (a.ok) passed++;
    else fail(name);
  });
  return state;
}

const parser = new Parser();
watch(parser, undefined, []);
parser.on('complete', (res) => {
  if (!res.ok && failed === 0) {
    // a bailout or a runner error with no failing assertion
    failed = 1;
    failures.push(res.bailout ? `bailed out: ${res.bailout}` : 'the runner failed without a failing assertion');
  }
  process.exitCode = failed > 0 ? 1 : 0;
  const run = process.env.COUNT_RUN ? `${process.env.COUNT_RUN}: ` : '';
  let all = failures.map((f) => run + f);
  if (addTo) {
    const kept = existsSync(addTo) ? readFileSync(addTo, 'utf8') : '';
    const before = kept ? JSON.parse(kept) : { passed: 0, failed: 0, skipped: 0, failures: [] };
    passed += before.passed;
    failed += before.failed;
    skipped += before.skipped;
    all = [...before.failures, ...all];
    writeFileSync(addTo, JSON.stringify({ passed, failed, skipped, failures: all }));
  }
  if (all.length) console.log(`\nFailed:\n${all.map((f) => `  - ${f}`).join('\n')}`);
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
});
process.stdin.on('data', (d) => process.stdout.write(d));
process.stdin.pipe(parser);
