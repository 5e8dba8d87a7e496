import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { lines, mfaFlow, type Rec } from '../support/records';
import { schemaErrors } from '../support/schemas';
import { REPO, tempDir } from '../support/tmp';

/** The built command, run as a user runs it (npm test builds dist/ first). */
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'reauth-loops.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd: REPO });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const lake = tmp.sub('lake');
const HOSTILE = 'Eve \u001b[31mRED\u001b]8;;http://x\u0007 \u202Eevil\r\nX';

beforeAll(() => {
  const recs: Rec[] = [];
  for (let i = 0; i < 5; i++) recs.push(...mfaFlow(i * 30, { user: 'eve' }));
  const text = lines(recs).replace(/"userDisplayName":"eve"/g, `"userDisplayName":${JSON.stringify(HOSTILE)}`);
  writeFileSync(tmp.sub('in.ndjson'), text);
  const r = cli(['import', tmp.sub('in.ndjson'), '--lake', lake, '--json']);
  expect(r.code).toBe(0);
  expect(schemaErrors('import-summary.schema.json', JSON.parse(r.stdout))).toEqual([]);
});

test.each(['import', 'consume', 'compact', 'retention', 'nightly', 'pull', 'detect', 'clusters', 'report', 'loops', 'user', 'explain', 'watch', 'sinks', 'query', 'publish', 'dev-hub', 'simulate', 'demo'])('%s --help has examples', (cmd) => {
  const r = cli([cmd, '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Examples:');
});

test('detect --out writes NDJSON that matches the flagged-session schema', () => {
  const out = tmp.sub('flagged.ndjson');
  const r = cli(['detect', '--lake', lake, '--out', out]);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('1 flagged session(s)');
  const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(rows).toHaveLength(1);
  expect(schemaErrors('flagged-session.schema.json', rows[0])).toEqual([]);
  expect(rows[0].user_display_name).toBe(HOSTILE);
});

test('table output cannot be steered by a hostile display name', () => {
  const r = cli(['detect', '--lake', lake, '--format', 'table', '--all-columns']);
  expect(r.code).toBe(0);
  expect(r.stdout).not.toMatch(/[\u001b\u0007\r\u202E]/);
  expect(r.stdout).toContain('\\x1b[31mRED');
});

test('CSV defuses formulas; thresholds are options', () => {
  const r = cli(['detect', '--lake', lake, '--format', 'csv', '--min-prompts', '6']);
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split('\r\n')).toHaveLength(1); // header only: 5 prompts < 6
  const bad = cli(['detect', '--lake', lake, '--min-prompts', 'many']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--min-prompts must be a whole number');
  const unknown = cli(['detect', '--lake', lake, '--threshold', 'nope=1']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('unknown threshold nope');
});

test('clusters --out validates against the loop-cluster schema (a one-user cluster with --min-cluster-users 1)', () => {
  const out = tmp.sub('clusters.ndjson');
  expect(cli(['clusters', '--lake', lake, '--out', out, '--min-cluster-users', '1']).code).toBe(0);
  const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(rows).toHaveLength(1);
  expect(schemaErrors('loop-cluster.schema.json', rows[0])).toEqual([]);
});

test('query binds --param values instead of pasting them', () => {
  const ok = cli(['query', '--lake', lake, 'select count(*) as n from sign_ins where user_principal_name = $upn', '--param', 'upn=eve@contoso.example', '--format', 'json']);
  expect(ok.code).toBe(0);
  expect(JSON.parse(ok.stdout)).toEqual([{ n: 10 }]);
  const inj = cli(['query', '--lake', lake, 'select count(*) as n from sign_ins where user_principal_name = $upn', '--param', "upn=x' or '1'='1", '--format', 'json']);
  expect(JSON.parse(inj.stdout)).toEqual([{ n: 0 }]);
});

test('query over the detection views, as Arrow IPC', () => {
  const out = tmp.sub('loops.arrow');
  const r = cli(['query', '--lake', lake, 'select loop_id, prompt_count, start, error_codes from loops', '--out', out]);
  expect(r.code).toBe(0);
  const t = tableFromIPC(readFileSync(out));
  expect(t.numRows).toBe(1);
  expect(Number(t.getChild('prompt_count')!.get(0))).toBe(5);
});

test('errors say what to do, without a stack', () => {
  const noLake = cli(['detect']);
  expect(noLake.code).toBe(2);
  expect(noLake.stderr).toMatch(/Missing required argument: lake/);
  const badSql = cli(['query', '--lake', lake, 'select nonsense from nowhere']);
  expect(badSql.code).toBe(2);
  expect(badSql.stderr).toContain('Your SQL failed');
  expect(badSql.stderr).not.toContain('    at ');
  const none = cli([]);
  expect(none.code).toBe(2);
  expect(none.stderr).toBe('reauth-loops: Name a command: import, consume, pull, compact, retention, nightly, detect, clusters, report, loops, user, explain, watch, sinks, query, publish, dev-hub, simulate, demo.\nRun with --help for usage and examples.\n');
  const missing = cli(['import', tmp.sub('missing.json'), '--lake', lake]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('does not exist');
});

test('simulate: same seed, same bytes', () => {
  const a = tmp.sub('a.ndjson');
  const b = tmp.sub('b.ndjson');
  expect(cli(['simulate', '--users', '30', '--out', a, '--seed', '5']).code).toBe(0);
  expect(cli(['simulate', '--users', '30', '--out', b, '--seed', '5']).code).toBe(0);
  expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
});

test('the CLI (normalizing on worker threads) lands exactly what the in-process import lands', async () => {
  const { importFiles } = await import('../../pipeline/lake/ingest');
  const { lakeRows } = await import('../support/tmp');
  const input = join(REPO, 'data-samples');
  const viaCli = cli(['import', input, '--lake', tmp.sub('lake-cli'), '--json']);
  expect(viaCli.code).toBe(0);
  const summary = JSON.parse(viaCli.stdout);
  const inline = await importFiles([input], tmp.sub('lake-inline'), { workers: 0 });
  expect({ ...summary, import_id: 0, lake: 0, started_at: 0, finished_at: 0, seconds: 0, records_per_second: 0, quarantine_file: 0 }).toEqual({ ...inline, import_id: 0, lake: 0, started_at: 0, finished_at: 0, seconds: 0, records_per_second: 0, quarantine_file: 0 });
  const strip = (rows: Record<string, unknown>[]) => rows.map(({ ingested_at: _a, ...r }) => JSON.stringify(r)).sort();
  expect(strip(await lakeRows(tmp.sub('lake-cli')))).toEqual(strip(await lakeRows(tmp.sub('lake-inline'))));
});

test('a lake that is not there, a file for a lake, or a lake with no sign-ins is an error, never "0 flagged"', () => {
  const empty = tmp.sub('empty-lake');
  mkdirSync(empty);
  const cases: Array<[string[], RegExp]> = [
    [['detect', '--lake', tmp.sub('no-such-lake')], /No lake at .*no-such-lake: check --lake/],
    [['loops', '--lake', tmp.sub('no-such-lake')], /No lake at/],
    [['clusters', '--lake', tmp.sub('no-such-lake')], /No lake at/],
    [['watch', '--once', '--lake', tmp.sub('no-such-lake')], /No lake at/],
    [['detect', '--lake', join(REPO, 'README.md')], /is a file, not a lake folder/],
    [['detect', '--lake', empty], /No sign-ins in .*empty-lake: nothing has landed there yet/],
    [['loops', '--lake', empty], /No sign-ins in/],
  ];
  for (const [args, message] of cases) {
    const r = cli(args);
    expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
    expect(r.stderr).toMatch(message);
  }
  // nothing was created for the mistyped path, nor in the empty lake
  expect(existsSync(tmp.sub('no-such-lake'))).toBe(false);
  expect(readdirSync(empty)).toEqual([]);
});
