import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { importFiles } from '../../pipeline/lake/ingest';
import { Lake } from '../../pipeline/lake/lake';
import { QuarantineFile } from '../../pipeline/lake/quarantine';
import { applyRetention } from '../../pipeline/lake/retention';
import { runNightly } from '../../pipeline/cli/commands/nightly';
import { ehRecord, mfaFlow, type Rec } from '../support/records';
import { REPO, tempDir } from '../support/tmp';

/**
 * Retention deletes exactly what is older than the keep days (reliability.md S10: 100 %), keeps everything else
 * byte for byte, never leaves the lake (crafted names, symbolic links), and takes turns with writers.
 */
const tmp = tempDir();
afterAll(() => tmp.cleanup());

const DAY = 86_400_000;
const TODAY = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
const day = (k: number) => new Date(TODAY - k * DAY).toISOString().slice(0, 10);
const KEEP = 30;
/** Ages (days before today) that get their own import, with one bad line: a quarantine file and a summary of that age. */
const AGES = [0, 3, 29, 30, 31, 40];
const SPAN = 44;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'reauth-loops.js'), ...args], { encoding: 'utf8', cwd: REPO });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cliAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [join(REPO, 'bin', 'reauth-loops.js'), ...args], { cwd: REPO });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** Sign-ins on day k (09:00 UTC), as Event Hub records per line. */
function dayLines(k: number, user = 'ana'): string {
  const recs: Rec[] = mfaFlow(0, { user });
  return recs.map((r) => JSON.stringify(ehRecord(r, TODAY - k * DAY + 9 * 3_600_000))).join('\n') + '\n';
}

/** path → what it is (file bytes hashed, link target, folder), without following links. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isSymbolicLink()) out.set(p, `link:${readlinkSync(p)}`);
      else if (e.isDirectory()) {
        out.set(p, 'dir');
        walk(p);
      } else out.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(root);
  return out;
}

const under = (p: string, roots: string[]) => roots.some((r) => p === r || p.startsWith(r + sep));

/** A lake with sign-ins on every day from today-44 to today and one future day, plus everything retention must not touch. */
async function buildLake(base: string) {
  const lake = join(base, 'lake');
  const reports = join(base, 'reports');
  const outside = join(base, 'outside');
  mkdirSync(join(base, 'in'), { recursive: true });
  // Every day in one import (its summary is dated today), and a day in the future (a clock-skewed source).
  writeFileSync(join(base, 'in', 'all.ndjson'), [...Array(SPAN + 1).keys()].map((k) => dayLines(k, `u${k}`)).join('') + dayLines(-1, 'future'));
  await importFiles([join(base, 'in', 'all.ndjson')], lake, { workers: 0 });
  // Imports run "on" older days: their quarantine files and summaries carry that day's times.
  for (const k of AGES) {
    const f = join(base, 'in', `age-${k}.ndjson`);
    writeFileSync(f, dayLines(k, `q${k}`) + '{not json\n');
    const s = await importFiles([f], lake, { workers: 0, now: () => new Date(TODAY - k * DAY + 12 * 3_600_000) });
    expect(s.quarantined).toBe(1);
  }
  const l = new Lake(lake);
  // A torn file moved aside long ago, and one recently.
  for (const k of [35, 2]) {
    mkdirSync(join(l.quarantine, 'torn', `date=${day(k)}`, 'hour=09'), { recursive: true });
    writeFileSync(join(l.quarantine, 'torn', `date=${day(k)}`, 'hour=09', 'part-x.parquet'), 'PAR1 torn');
  }
  // Outside the lake: what links inside it point at. None of it may change.
  mkdirSync(join(outside, 'victim'), { recursive: true });
  writeFileSync(join(outside, 'victim', 'keep.txt'), 'outside the lake');
  writeFileSync(join(outside, 'precious.txt'), 'outside the lake too');
  writeFileSync(join(outside, 'summary.json'), '{"finished_at":"2000-01-01T00:00:00Z"}');
  // Crafted names and links in the lake.
  mkdirSync(join(l.signIns, 'date=..', 'hour=09'), { recursive: true });
  writeFileSync(join(l.signIns, 'date=..', 'hour=09', 'x.parquet'), 'not ours');
  mkdirSync(join(l.signIns, 'date=2001-13-45'), { recursive: true });
  symlinkSync(join(outside, 'victim'), join(l.signIns, 'date=2001-01-01'));
  symlinkSync(join(outside, 'victim'), join(l.signIns, `date=${day(40)}`, 'hour=10'));
  symlinkSync(join(outside, 'precious.txt'), join(l.signIns, `date=${day(40)}`, 'hour=09', 'escape.parquet'));
  symlinkSync(join(outside, 'summary.json'), join(l.imports, 'imp-20000101-000000-abcdef.json'));
  // Nightly reports: one folder per day, plus things that are not day folders.
  for (let k = 0; k <= SPAN; k++) {
    mkdirSync(join(reports, day(k)), { recursive: true });
    writeFileSync(join(reports, day(k), 'report.html'), `<p>${day(k)}</p>`);
  }
  writeFileSync(join(reports, 'notes.txt'), 'keep me');
  mkdirSync(join(reports, 'weekly-2001-01-01'));
  symlinkSync(join(outside, 'victim'), join(reports, '2001-01-02'));

  const expected = [
    ...[...Array(SPAN + 1).keys()].filter((k) => k > KEEP).map((k) => join(l.signIns, `date=${day(k)}`)),
    ...readdirSync(l.quarantine).filter((n) => AGES.some((k) => k > KEEP && n.startsWith(`imp-${day(k).replace(/-/g, '')}-`))).map((n) => join(l.quarantine, n)),
    join(l.quarantine, 'torn', `date=${day(35)}`),
    ...readdirSync(l.imports).filter((n) => AGES.some((k) => k > KEEP && n.startsWith(`imp-${day(k).replace(/-/g, '')}-`))).map((n) => join(l.imports, n)),
    ...[...Array(SPAN + 1).keys()].filter((k) => k > KEEP).map((k) => join(reports, day(k))),
  ].sort();
  // 14 days of sign-ins and reports, 2 quarantine files, a torn folder, 2 summaries.
  expect(expected).toHaveLength(14 + 2 + 1 + 2 + 14);
  return { lake, reports, outside, expected, l };
}

describe('retention', () => {
  let s: Awaited<ReturnType<typeof buildLake>>;
  let before: Map<string, string>;
  let dryRunListed: string[];
  beforeAll(async () => {
    s = await buildLake(tmp.sub('main'));
    before = snapshot(tmp.sub('main'));
  });

  test('--dry-run lists exactly what is older than the keep days and changes nothing', () => {
    const r = cli(['retention', '--lake', s.lake, '--reports', s.reports, '--keep-days', String(KEEP), '--dry-run', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.dry_run).toBe(true);
    dryRunListed = out.deleted.map((i: { path: string }) => i.path).sort();
    expect(dryRunListed).toEqual(s.expected);
    expect(snapshot(tmp.sub('main'))).toEqual(before);
    // The human form says the same.
    const human = cli(['retention', '--lake', s.lake, '--reports', s.reports, '--keep-days', String(KEEP), '--dry-run']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Would delete what is older than /);
    expect(human.stdout.match(/would delete /g)).toHaveLength(s.expected.length);
  });

  test('--keep-days 30 deletes 100 % of the older days and keeps the rest byte-identical, inside the lake only', () => {
    const r = cli(['retention', '--lake', s.lake, '--reports', s.reports, '--keep-days', String(KEEP), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.deleted.map((i: { path: string }) => i.path).sort()).toEqual(dryRunListed);
    expect(out.cutoff).toBe(day(KEEP));
    expect(out.totals.sign_ins).toMatchObject({ deleted: 14, oldest_kept: day(KEEP) });
    expect(out.totals.reports).toMatchObject({ deleted: 14, oldest_kept: day(KEEP) });
    expect(out.totals.sign_ins.bytes).toBeGreaterThan(0);

    const after = snapshot(tmp.sub('main'));
    for (const [p, what] of before) {
      if (under(p, s.expected)) expect(after.has(p) ? p : null).toBeNull();
      else expect([p, after.get(p)]).toEqual([p, what]);
    }
    // Nothing new either (the trash under _staging/ is gone again).
    for (const p of after.keys()) expect(before.has(p) ? null : p).toBeNull();
    // What the links pointed at is untouched; the crafted names and the links themselves are left alone.
    expect(readFileSync(join(s.outside, 'victim', 'keep.txt'), 'utf8')).toBe('outside the lake');
    expect(readFileSync(join(s.outside, 'precious.txt'), 'utf8')).toBe('outside the lake too');
    expect(lstatSync(join(s.l.signIns, 'date=2001-01-01')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(s.l.signIns, 'date=..', 'hour=09', 'x.parquet'))).toBe(true);
    expect(out.skipped.map((x: { path: string }) => relative(tmp.sub('main'), x.path)).sort()).toEqual(
      [join('lake', 'sign_ins', 'date=..'), join('lake', 'sign_ins', 'date=2001-01-01'), join('lake', 'sign_ins', 'date=2001-13-45'), join('lake', '_imports', 'imp-20000101-000000-abcdef.json'), join('reports', '2001-01-02')].sort(),
    );
    // Today, the future and the boundary day stay.
    for (const k of [0, -1, KEEP]) expect(existsSync(join(s.l.signIns, `date=${day(k)}`))).toBe(true);
  });

  test('running it again deletes nothing', () => {
    const snap = snapshot(tmp.sub('main'));
    const r = cli(['retention', '--lake', s.lake, '--reports', s.reports, '--keep-days', String(KEEP), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).deleted).toEqual([]);
    expect(snapshot(tmp.sub('main'))).toEqual(snap);
  });
});

test('quarantine keeps its own days', async () => {
  const s = await buildLake(tmp.sub('q'));
  const r = await applyRetention(s.lake, { keepDays: KEEP, quarantineKeepDays: 3, dryRun: true });
  const q = r.deleted.filter((i) => i.kind === 'quarantine').map((i) => i.date).sort();
  // Files from imports 29, 30, 31 and 40 days ago, and both torn folders' days older than 3 days (35; 2 stays).
  expect(q).toEqual([day(40), day(35), day(31), day(30), day(29)]);
  expect(r.totals.quarantine.oldest_kept).toBe(day(3));
  expect(r.deleted.filter((i) => i.kind === 'sign_ins')).toHaveLength(14);
});

test('a lake folder that leads outside the lake is refused, and bad options say what to do', () => {
  const base = tmp.sub('escape');
  const outside = join(base, 'elsewhere');
  mkdirSync(join(outside, `date=${day(40)}`, 'hour=09'), { recursive: true });
  writeFileSync(join(outside, `date=${day(40)}`, 'hour=09', 'p.parquet'), 'x');
  mkdirSync(join(base, 'lake'), { recursive: true });
  symlinkSync(outside, join(base, 'lake', 'sign_ins'));
  const r = cli(['retention', '--lake', join(base, 'lake'), '--keep-days', '30']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('retention deletes only inside the lake');
  expect(existsSync(join(outside, `date=${day(40)}`, 'hour=09', 'p.parquet'))).toBe(true);

  const zero = cli(['retention', '--lake', join(base, 'lake'), '--keep-days', '0']);
  expect(zero.code).toBe(2);
  expect(zero.stderr).toContain('--keep-days wants a whole number of days, at least 1');
  const missing = cli(['retention', '--lake', join(base, 'nope'), '--keep-days', '30']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('does not exist');
  expect(existsSync(join(base, 'nope'))).toBe(false);
});

test('a consumer whose quarantine file retention deleted writes its next entries to a new file, not into the void', async () => {
  const dir = tmp.sub('qfile');
  mkdirSync(dir, { recursive: true });
  const q = new QuarantineFile(dir, 'str-20200101-000000-abcdef', () => new Date());
  const entry = (raw: string) => ({ reason: 'invalid_json' as const, detail: 'x', source: 'hub', line: null, byte_offset: null, record_index: null, raw });
  q.add(entry('first'));
  await q.sync();
  rmSync(q.path); // what retention does to a long-quiet consumer's file, while the consumer holds it open
  q.add(entry('second'));
  await q.sync();
  q.add(entry('third'));
  await q.close();
  expect(readFileSync(q.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).raw)).toEqual(['second', 'third']);
});

/**
 * A lake made of one real Parquet file copied into day folders: quick to make, real to read. Its rows are
 * from 2001, so they never fall into a report's period whichever folder they were copied into.
 */
async function copiedLake(base: string, ages: number[]): Promise<{ lake: string; l: Lake }> {
  const seed = join(base, 'seed');
  mkdirSync(base, { recursive: true });
  writeFileSync(join(base, 'seed.ndjson'), mfaFlow(0, { user: 'seed' }).map((r) => JSON.stringify(ehRecord(r, Date.UTC(2001, 0, 1, 9)))).join('\n') + '\n');
  await importFiles([join(base, 'seed.ndjson')], seed, { workers: 0 });
  const file = (await new Lake(seed).files()).files[0];
  const lake = join(base, 'lake');
  const l = new Lake(lake);
  await l.ensure();
  for (const k of ages) {
    const dir = l.partitionDir(day(k), 9);
    mkdirSync(dir, { recursive: true });
    copyFileSync(file, join(dir, 'part-seed-0-0.parquet'));
  }
  return { lake, l };
}

test('retention waits for the lake lock, and gives up with exit 3 when told not to wait', async () => {
  const base = tmp.sub('locked');
  mkdirSync(base, { recursive: true });
  const { lake, l } = await copiedLake(base, [1, 40]);
  const old = join(l.signIns, `date=${day(40)}`);
  const unlock = await l.lock(); // this process stands in for an import
  let released = false;
  try {
    const now = cli(['retention', '--lake', lake, '--keep-days', '30', '--wait-minutes', '0']);
    expect(now.code).toBe(3);
    expect(now.stderr).toContain('is being written by process');
    expect(existsSync(old)).toBe(true);

    const waiting = cliAsync(['retention', '--lake', lake, '--keep-days', '30', '--wait-minutes', '1']);
    await new Promise((r) => setTimeout(r, 2000));
    expect(existsSync(old)).toBe(true); // still waiting
    await unlock();
    released = true;
    const r = await waiting;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('Waiting for process');
    expect(existsSync(old)).toBe(false);
    expect(existsSync(join(l.signIns, `date=${day(1)}`))).toBe(true);
  } finally {
    if (!released) await unlock();
  }
});

describe('nightly', () => {
  test('compact, report, retention in order; a second run for the same date is safe', async () => {
    const base = tmp.sub('nightly-ok');
    mkdirSync(base, { recursive: true });
    const { lake, l } = await copiedLake(base, [0, 1, 31, 40]);
    const reports = join(base, 'reports');
    mkdirSync(join(reports, day(40)), { recursive: true });
    const seen: string[] = [];
    const report = async (_lake: string, o: { date: string; out: string }) => {
      seen.push(o.date);
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'report.json'), JSON.stringify({ date: o.date }));
      return { files: [join(o.out, 'report.json')] };
    };
    const steps = await runNightly({ lake, reports, keepDays: 30, report });
    expect(steps.map((s) => [s.step, s.status])).toEqual([['compact', 'ok'], ['report', 'ok'], ['retention', 'ok']]);
    expect(seen).toEqual([day(1)]);
    expect(existsSync(join(reports, day(1), 'report.json'))).toBe(true);
    expect(existsSync(join(reports, day(40)))).toBe(false);
    expect(readdirSync(l.signIns).sort()).toEqual([`date=${day(1)}`, `date=${day(0)}`].sort());

    const again = await runNightly({ lake, reports, keepDays: 30, report });
    expect(again.map((s) => s.status)).toEqual(['ok', 'ok', 'ok']);
    expect((again[2].detail as { deleted: unknown[] }).deleted).toEqual([]);
  });

  test('a failed report means no retention: nothing is deleted', async () => {
    const base = tmp.sub('nightly-fail');
    mkdirSync(base, { recursive: true });
    const { lake, l } = await copiedLake(base, [1, 40]);
    const reports = join(base, 'reports');
    mkdirSync(join(reports, day(40)), { recursive: true });
    const steps = await runNightly({ lake, reports, keepDays: 30, report: async () => Promise.reject(new Error('disk full')) });
    expect(steps.map((s) => [s.step, s.status])).toEqual([['compact', 'ok'], ['report', 'failed'], ['retention', 'skipped']]);
    expect(steps[1].error).toBe('disk full');
    expect(existsSync(join(l.signIns, `date=${day(40)}`))).toBe(true);
    expect(existsSync(join(reports, day(40)))).toBe(true);
  });

  test('CLI: the real report for yesterday lands in <reports>/<date>/, then retention; a second run rewrites the same report', async () => {
    const base = tmp.sub('nightly-cli');
    mkdirSync(base, { recursive: true });
    const { lake, l } = await copiedLake(base, [40]);
    // Yesterday: ana loops (5 prompts 30 s apart).
    const recs: Rec[] = [];
    for (let i = 0; i < 5; i++) recs.push(...mfaFlow(i * 30, { user: 'ana' }));
    writeFileSync(join(base, 'loop.ndjson'), recs.map((r) => JSON.stringify(ehRecord(r, TODAY - DAY + 9 * 3_600_000))).join('\n') + '\n');
    await importFiles([join(base, 'loop.ndjson')], lake, { workers: 0 });
    const reports = join(base, 'reports');
    mkdirSync(join(reports, day(40)), { recursive: true });
    const args = ['nightly', '--lake', lake, '--reports', reports, '--keep-days', '30', '--json'];
    const r = cli(args);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const steps = r.stdout.trim().split('\n').map((x) => JSON.parse(x));
    expect(steps.map((x) => [x.step, x.status, x.date])).toEqual([['compact', 'ok', day(1)], ['report', 'ok', day(1)], ['retention', 'ok', day(1)]]);
    expect(steps[1].detail.totals).toMatchObject({ loops: 1, looping_users: 1 });
    for (const f of ['report.json', 'report.md', 'report.html', 'loops.csv', 'remediation.csv']) expect(existsSync(join(reports, day(1), f))).toBe(true);
    expect(existsSync(join(reports, day(40)))).toBe(false);
    expect(existsSync(join(l.signIns, `date=${day(40)}`))).toBe(false);
    expect(existsSync(join(l.signIns, `date=${day(1)}`))).toBe(true);

    const first = readFileSync(join(reports, day(1), 'report.json'), 'utf8');
    const again = cli(args);
    expect(again.code).toBe(0);
    expect(readFileSync(join(reports, day(1), 'report.json'), 'utf8')).toBe(first);
    expect(JSON.parse(again.stdout.trim().split('\n')[2]).detail.deleted).toEqual([]);
    // The human form: one line per step.
    const human = cli(args.filter((a) => a !== '--json'));
    expect(human.code).toBe(0);
    expect(human.stdout.trim().split('\n').map((x) => x.split(/\s+/).slice(0, 3).join(' '))).toEqual([`${day(1)} compact ok`, `${day(1)} report ok`, `${day(1)} retention ok`]);
  });

  test('CLI: a lake path that is a file fails with exit 1, names the step, and deletes nothing', () => {
    const base = tmp.sub('nightly-file');
    const reports = join(base, 'reports');
    mkdirSync(join(reports, day(40)), { recursive: true });
    writeFileSync(join(base, 'lake'), 'not a folder');
    const r = cli(['nightly', '--lake', join(base, 'lake'), '--reports', reports, '--keep-days', '30', '--json']);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n').map((x) => JSON.parse(x));
    expect(lines.map((x) => [x.step, x.status])).toEqual([['compact', 'failed'], ['report', 'failed'], ['retention', 'skipped']]);
    expect(r.stderr).toContain('nightly: step compact and report failed');
    expect(r.stderr).toContain('Retention did not run, so nothing was deleted.');
    expect(existsSync(join(reports, day(40)))).toBe(true);
  });

  test('CLI: bad dates are refused before anything runs', () => {
    const base = tmp.sub('nightly-date');
    mkdirSync(base, { recursive: true });
    const old = cli(['nightly', '--lake', base, '--reports', base, '--keep-days', '30', '--date', day(45)]);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain('this run\'s retention would delete it');
    const bad = cli(['nightly', '--lake', base, '--reports', base, '--keep-days', '30', '--date', '2026-02-30']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
  });
});
