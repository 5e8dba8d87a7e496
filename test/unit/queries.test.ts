import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allParams, LAYERS } from '../../pipeline/detect/detect';
import { coerceParam, loadQuery, queriesDir, stripComments } from '../../pipeline/sql/queries';
import { tmpdir } from 'node:os';
import { REPO } from '../support/tmp';

test('every layer loads, and every threshold has a default and a reason', () => {
  for (const l of LAYERS) expect(loadQuery(l).sql.length).toBeGreaterThan(0);
  const params = allParams();
  expect(params.map((p) => p.name)).toEqual(expect.arrayContaining(['flow_gap_secs', 'loop_gap_secs', 'min_prompts', 'min_denials', 'severe_prompts', 'cluster_gap_secs', 'min_cluster_users', 'from', 'to']));
  for (const p of params) {
    expect(p.doc.length).toBeGreaterThan(15);
    expect(() => coerceParam(p, p.default)).not.toThrow();
  }
});

test('queries/ holds one query per .sql file, and no TypeScript file pastes SQL thresholds', () => {
  const sqlFiles = readdirSync(join(queriesDir(), 'detect')).filter((f) => f.endsWith('.sql'));
  expect(sqlFiles.sort()).toEqual(['cluster_registry.sql', 'clusters.sql', 'episodes.sql', 'flagged_sessions.sql', 'flows.sql', 'incidents.sql', 'loop_clusters.sql', 'loop_registry.sql', 'loops.sql', 'prompts.sql']);
  for (const f of sqlFiles) expect(stripComments(readFileSync(join(queriesDir(), 'detect', f), 'utf8'))).not.toContain(';');
  // A threshold in TS would be a second definition of a loop.
  const ts = readFileSync(join(REPO, 'pipeline', 'detect', 'detect.ts'), 'utf8');
  expect(ts).not.toMatch(/min_prompts\s*[:=]\s*\d/);
});

test('a query that uses an undeclared $param, or declares an unused one, fails to load; a declared one is used anywhere', () => {
  const queries = (files: Record<string, string>) => {
    const root = mkdtempSync(join(tmpdir(), 'q-'));
    mkdirSync(join(root, 'x'));
    for (const [name, sql] of Object.entries(files)) writeFileSync(join(root, 'x', `${name}.sql`), sql);
    return root;
  };
  const undeclared = queries({ a: 'select $n as n\n' });
  expect(() => loadQuery('x/a', undeclared)).toThrow('$n is used but declared nowhere');
  const unused = queries({ b: '-- @param n INTEGER = 1 : a number used for nothing at all\nselect 1\n' });
  expect(() => loadQuery('x/b', unused)).toThrow('@param n is declared but never used');
  // declared in c, used in c and d: d binds it with c's type and default
  const shared = queries({ c: '-- @param n INTEGER = 1 : a number that is used below\nselect $n as n\n', d: 'select $n + 1 as m\n' });
  expect(loadQuery('x/c', shared).params).toEqual([{ name: 'n', type: 'INTEGER', default: '1', doc: 'a number that is used below' }]);
  expect(loadQuery('x/d', shared).params).toEqual(loadQuery('x/c', shared).params);
  expect(loadQuery('x/d', shared).declares).toEqual([]);
});

test('coercion gives clear errors', () => {
  const [gap] = allParams().filter((p) => p.name === 'loop_gap_secs');
  expect(coerceParam(gap, '90')).toBe(90);
  expect(() => coerceParam(gap, '1.5')).toThrow('--loop-gap-secs must be a whole number');
  const [from] = allParams().filter((p) => p.name === 'from');
  expect(coerceParam(from, '2026-04-14')).toBe(Date.UTC(2026, 3, 14) * 1000);
  expect(() => coerceParam(from, 'last tuesday')).toThrow('--from must be a time');
});
