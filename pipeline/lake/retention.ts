import { randomBytes } from 'node:crypto';
import { promises as fsp, type Dirent } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { CliError } from '../errors';
import { fsyncDir, Lake } from './lake';

/**
 * Retention: what the lake (and the nightly reports) keep, and for how long. Everything deleted is found by
 * listing a known folder and matching each name against a strict pattern, so no path is ever built from user
 * input or from log content; symbolic links are never followed (a link is left alone, and `rm` removes links
 * inside a deleted folder as links). What is never deleted: today's and newer partitions, _alerts/ (outboxes
 * and alert state), _staging/, _lock, and any name the patterns do not know.
 */
export interface RetentionOptions {
  /** Sign-in partitions, import/stream summaries and report folders older than this many days go. Whole number ≥ 1. */
  keepDays: number;
  /** Quarantine entries (rejected input, torn Parquet files) older than this go. Default: keepDays. */
  quarantineKeepDays?: number;
  /** Nightly reports, one folder per day named YYYY-MM-DD. */
  reportsDir?: string;
  /** List what would go; change nothing (and take no lock). */
  dryRun?: boolean;
  now?: () => Date;
  /** How long to wait for an import, a consumer's landing or a compaction to let go of the lake. Default 30 min. */
  lockWaitMs?: number;
  onLockWait?: (holder: number) => void;
}

export type RetentionKind = 'sign_ins' | 'quarantine' | 'imports' | 'reports';
export const RETENTION_KINDS: readonly RetentionKind[] = ['sign_ins', 'quarantine', 'imports', 'reports'];

export interface RetentionItem {
  kind: RetentionKind;
  /** Absolute path. */
  path: string;
  /** The UTC day it is aged by: the event date of a partition, the newest entry of a quarantine file, the end of an import. */
  date: string;
  files: number;
  bytes: number;
}

export interface RetentionTotals {
  deleted: number;
  files: number;
  bytes: number;
  kept: number;
  /** The oldest day still there after this run, null when nothing is kept. */
  oldest_kept: string | null;
}

export interface RetentionResult {
  dry_run: boolean;
  lake: string;
  reports: string | null;
  today: string;
  keep_days: number;
  quarantine_keep_days: number;
  /** Items dated before this day are deleted (quarantine: before quarantine_cutoff). */
  cutoff: string;
  quarantine_cutoff: string;
  /** What was deleted, or with dry_run what would be. */
  deleted: RetentionItem[];
  totals: Record<RetentionKind, RetentionTotals>;
  /** Entries in the managed folders that retention does not recognise or will not follow; left alone. */
  skipped: Array<{ path: string; reason: string }>;
}

const DATE_DIR = /^date=(\d{4}-\d{2}-\d{2})$/;
/** Ids written by runId(): imp-20260414-091500-3fa2c1, str-…; the time is when the run started. */
const RUN_FILE = /^([a-z]+-(\d{4})(\d{2})(\d{2})-\d{6}-[0-9a-f]{6})\.(ndjson|json)$/;
const REPORT_DIR = /^(\d{4}-\d{2}-\d{2})$/;

export async function applyRetention(lakeDir: string, opts: RetentionOptions): Promise<RetentionResult> {
  if (!Number.isInteger(opts.keepDays) || opts.keepDays < 1) {
    throw new CliError(`--keep-days wants a whole number of days, at least 1 (tonight's report reads yesterday), got ${opts.keepDays}`, 2);
  }
  const qDays = opts.quarantineKeepDays ?? opts.keepDays;
  if (!Number.isInteger(qDays) || qDays < 1) throw new CliError(`--quarantine-keep-days wants a whole number of days, at least 1, got ${qDays}`, 2);
  const root = resolve(lakeDir);
  await mustBeFolder(root, `The lake ${root}`, 'Check --lake: it should be the folder `import` or `consume` wrote.');
  const reportsDir = opts.reportsDir === undefined ? null : resolve(opts.reportsDir);
  if (reportsDir) await mustBeFolder(reportsDir, `The reports folder ${reportsDir}`, 'Check --reports, or leave it out to keep reports as they are.');

  const now = (opts.now ?? (() => new Date()))();
  const today = dayOf(now.getTime());
  const cutoff = dayOf(now.getTime() - opts.keepDays * 86_400_000);
  const qCutoff = dayOf(now.getTime() - qDays * 86_400_000);
  const lake = new Lake(root);

  const run = async (): Promise<RetentionResult> => {
    const skipped: RetentionResult['skipped'] = [];
    const found: Array<RetentionItem & { cutoff: string }> = [];
    const add = (items: RetentionItem[], c: string) => found.push(...items.map((i) => ({ ...i, cutoff: c })));
    add(await partitions(root, lake.signIns, 'sign_ins', skipped), cutoff);
    add(await runFiles(root, lake.quarantine, 'quarantine', '.ndjson', quarantineDate, skipped, ['torn']), qCutoff);
    add(await partitions(root, join(lake.quarantine, 'torn'), 'quarantine', skipped), qCutoff);
    add(await runFiles(root, lake.imports, 'imports', '.json', summaryDate, skipped), cutoff);
    if (reportsDir) add(await reportFolders(reportsDir, skipped), cutoff);

    // `date < today` is implied by the cutoffs (keep days ≥ 1); checked again because it is the promise.
    const doomed = found.filter((i) => i.date < i.cutoff && i.date < today);
    const kept = found.filter((i) => !doomed.includes(i));
    const deleted: RetentionItem[] = doomed.map(({ cutoff: _c, ...i }) => i);
    if (!opts.dryRun) await remove(lake, deleted);
    const totals = Object.fromEntries(
      RETENTION_KINDS.map((k) => {
        const d = deleted.filter((i) => i.kind === k);
        const keptDays = kept.filter((i) => i.kind === k).map((i) => i.date).sort();
        const t: RetentionTotals = { deleted: d.length, files: sum(d.map((i) => i.files)), bytes: sum(d.map((i) => i.bytes)), kept: keptDays.length, oldest_kept: keptDays[0] ?? null };
        return [k, t];
      }),
    ) as Record<RetentionKind, RetentionTotals>;
    return { dry_run: Boolean(opts.dryRun), lake: root, reports: reportsDir, today, keep_days: opts.keepDays, quarantine_keep_days: qDays, cutoff, quarantine_cutoff: qCutoff, deleted, totals, skipped };
  };

  // A dry run changes nothing, so it neither waits for nor blocks a landing.
  if (opts.dryRun) return run();
  const unlock = await lake.lock({ waitMs: opts.lockWaitMs ?? 30 * 60_000, onWait: opts.onLockWait });
  try {
    return await run();
  } finally {
    await unlock();
  }
}

/** sign_ins/date=YYYY-MM-DD/ (and quarantine/torn/date=…/): aged by the event date in the name. */
async function partitions(root: string, dir: string, kind: RetentionKind, skipped: RetentionResult['skipped']): Promise<RetentionItem[]> {
  const out: RetentionItem[] = [];
  for (const e of await listManaged(root, dir)) {
    const m = DATE_DIR.exec(e.name);
    const p = join(dir, e.name);
    if (!m || !isDay(m[1])) skipped.push({ path: p, reason: 'not a date=YYYY-MM-DD folder' });
    else if (!e.isDirectory()) skipped.push({ path: p, reason: e.isSymbolicLink() ? 'a symbolic link: not followed' : 'not a folder' });
    else out.push({ kind, path: p, date: m[1], ...(await sizeOf(p)) });
  }
  return out;
}

/** quarantine/<run-id>.ndjson and _imports/<run-id>.json: aged by the newest time they hold. */
async function runFiles(
  root: string,
  dir: string,
  kind: RetentionKind,
  ext: string,
  dateOf: (path: string) => Promise<number | null>,
  skipped: RetentionResult['skipped'],
  ignore: string[] = [],
): Promise<RetentionItem[]> {
  const out: RetentionItem[] = [];
  for (const e of await listManaged(root, dir)) {
    if (ignore.includes(e.name) && e.isDirectory()) continue;
    const m = RUN_FILE.exec(e.name);
    const p = join(dir, e.name);
    if (!m || `.${m[5]}` !== ext) {
      skipped.push({ path: p, reason: `not a <run-id>${ext} file` });
      continue;
    }
    if (!e.isFile()) {
      skipped.push({ path: p, reason: e.isSymbolicLink() ? 'a symbolic link: not followed' : 'not a file' });
      continue;
    }
    const started = Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4]));
    const st = await fsp.lstat(p);
    // The newest of: when the run started (in its id), and what the file says. A file that says nothing
    // readable falls back to its modification time, so it is kept rather than judged by its start alone.
    const newest = Math.max(started, (await dateOf(p)) ?? st.mtimeMs);
    out.push({ kind, path: p, date: dayOf(newest), files: 1, bytes: st.size });
  }
  return out;
}

async function reportFolders(dir: string, skipped: RetentionResult['skipped']): Promise<RetentionItem[]> {
  const out: RetentionItem[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const m = REPORT_DIR.exec(e.name);
    const p = join(dir, e.name);
    // Only day folders are retention's business; anything else in the reports folder is not even listed.
    if (!m || !isDay(m[1])) continue;
    if (!e.isDirectory()) skipped.push({ path: p, reason: e.isSymbolicLink() ? 'a symbolic link: not followed' : 'not a folder' });
    else out.push({ kind: 'reports', path: p, date: m[1], ...(await sizeOf(p)) });
  }
  return out;
}

/**
 * A quarantine file's newest entry. Entries are appended in time order and `quarantined_at` is each line's
 * last key, so the tail holds it; the pattern cannot match inside a quoted raw record (its quotes are escaped).
 */
async function quarantineDate(path: string): Promise<number | null> {
  const fh = await fsp.open(path, 'r');
  try {
    const { size } = await fh.stat();
    const CHUNK = 1 << 20;
    for (let end = size; end > 0; end -= CHUNK - 64) {
      const start = Math.max(0, end - CHUNK);
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      let newest: number | null = null;
      for (const m of buf.toString('latin1').matchAll(/"quarantined_at":"([0-9T:.+\-Z]{10,40})"/g)) {
        const t = Date.parse(m[1]);
        if (Number.isFinite(t) && (newest === null || t > newest)) newest = t;
      }
      if (newest !== null) return newest;
      if (start === 0) break;
    }
    return null;
  } finally {
    await fh.close();
  }
}

/** An import's end, or a consumer's last commit (`updated_at`, rewritten after each). */
async function summaryDate(path: string): Promise<number | null> {
  try {
    const s = JSON.parse(await fsp.readFile(path, 'utf8')) as Record<string, unknown>;
    const times = [s.finished_at, s.updated_at, s.started_at].filter((v): v is string => typeof v === 'string').map(Date.parse).filter(Number.isFinite);
    return times.length ? Math.max(...times) : null;
  } catch {
    return null;
  }
}

/**
 * Deletes under the lock. A partition is first renamed into _staging/ (outside every reader's glob) in one
 * step, so a query sees the day whole or not at all, and a crash mid-delete leaves a leftover that the next
 * writer's clearStaging() removes, not half a day.
 */
async function remove(lake: Lake, items: RetentionItem[]): Promise<void> {
  const trash = lake.stagingDir(`retention-${randomBytes(3).toString('hex')}`);
  try {
    const parents = new Set<string>();
    for (const [n, i] of items.entries()) {
      if (i.kind === 'reports') {
        await fsp.rm(i.path, { recursive: true, force: true });
      } else {
        await fsp.mkdir(trash, { recursive: true });
        await fsp.rename(i.path, join(trash, `${n}`));
      }
      parents.add(join(i.path, '..'));
    }
    for (const p of parents) await fsyncDir(p);
  } finally {
    await fsp.rm(trash, { recursive: true, force: true });
  }
}

/**
 * The entries of one of the lake's own folders. The folder must really be inside the lake: a sign_ins/ or
 * quarantine/ that is a link to somewhere else is refused rather than cleaned out.
 */
async function listManaged(root: string, dir: string): Promise<Dirent[]> {
  const st = await fsp.lstat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (st === null) return [];
  const realRoot = await fsp.realpath(root);
  const real = await fsp.realpath(dir);
  if (st.isSymbolicLink() || !st.isDirectory() || !(real + sep).startsWith(realRoot + sep) || real === realRoot) {
    throw new CliError(`${dir} is not a folder inside the lake ${root} (it leads to ${real}); retention deletes only inside the lake. Point --lake at the real lake folder.`, 2);
  }
  return (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Files and bytes in a folder, without following links (a link counts as a file of its own size). */
async function sizeOf(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const s = await sizeOf(p);
      files += s.files;
      bytes += s.bytes;
    } else {
      files++;
      bytes += (await fsp.lstat(p)).size;
    }
  }
  return { files, bytes };
}

async function mustBeFolder(path: string, what: string, advice: string): Promise<void> {
  const st = await fsp.stat(path).catch(() => null);
  if (st === null) throw new CliError(`${what} does not exist. ${advice}`, 2);
  if (!st.isDirectory()) throw new CliError(`${what} is not a folder. ${advice}`, 2);
}

function isDay(d: string): boolean {
  const t = Date.parse(`${d}T00:00:00Z`);
  return Number.isFinite(t) && dayOf(t) === d;
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
