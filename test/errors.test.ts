// Every error code in the catalogue is documented in the README, as fastify checks its own.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { codes } from '../src/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
for (const code of Object.keys(codes)) t.match(readme, `\`${code}\``, `${code} is documented`);
