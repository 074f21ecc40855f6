// Reads raw TAP on stdin (tap -R tap), echoes it, and ends with the plain
// `N passed, N failed` line the CI reads; exits non-zero on any failure.
import { Parser } from 'tap-parser';

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
const parser = new Parser({ flat: true });
parser.on('assert', (a) => {
  if (a.skip || a.todo) skipped++;
  else if (a.ok) passed++;
  else {
    failed++;
    failures.push(a.fullname || a.name);
  }
});
parser.on('complete', (res) => {
  if (failures.length) console.log(`\nFailed:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  if (!res.ok && failed === 0) failed = 1; // a bailout or a crashed file with no failing assert
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exitCode = failed > 0 ? 1 : 0;
});
process.stdin.on('data', (d) => process.stdout.write(d));
process.stdin.pipe(parser);
