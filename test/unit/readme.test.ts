import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allParams } from '../../pipeline/detect/detect';
import { SIGN_IN_COLUMNS } from '../../pipeline/normalize/columns';
import { REPO } from '../support/tmp';

/** The README documents the SQL's thresholds and the lake's columns; this keeps it from drifting. */
const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

test('the README opens with the two set-up commands', () => {
  const commands = readme.split('\n').filter((l) => /^npm ci && npm (start|test)\b/.test(l));
  expect(commands.map((l) => l.split('#')[0].trim())).toEqual(['npm ci && npm start', 'npm ci && npm test']);
});

test.each(allParams().filter((p) => p.name !== 'from' && p.name !== 'to').map((p) => [p.name, p.default]))('README lists threshold %s with default %s', (name, def) => {
  expect(readme).toContain(`| \`${name}\` | ${def} |`);
});

test('README names every lake column', () => {
  for (const c of SIGN_IN_COLUMNS) expect(readme).toContain(`\`${c.name}\``);
});
