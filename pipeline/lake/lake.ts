import { randomBytes } from 'node:crypto';
import { promises as fsp, constants as fsc } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { CliError } from '../errors';
import { stringList } from '../sql/duckdb';

/**
 * The lake's layout on disk. Readers only ever glob sign_ins/date=*\/hour=*\/*.parquet; everything being
 * written lives in _staging/ first and is renamed in whole (reliability.md §1.3).
 *
 *   sign_ins/date=YYYY-MM-DD/hour=HH/part-<batch>-<n>.parquet   landed rows (zstd)
 *   sign_ins/date=YYYY-MM-DD/hour=HH/compact-<id>.parquet       an hour's files merged (lake/compact.ts)
 *   quarantine/<import-id>.ndjson                                  rejected input, one entry per item, with reason
 *   quarantine/torn/...                                            Parquet files found without a footer
 *   _imports/<import-id>.json                                      one summary per import
 *   _staging/<pid>-<batch>/                                        work in progress; never read
 *   _lock                                                          pid of the process landing now
 */
export class Lake {
  readonly signIns: string;
  readonly quarantine: string;
  readonly imports: string;
  readonly staging: string;
  private readonly verified = new Set<string>();

  constructor(readonly root: string) {
    this.signIns = join(root, 'sign_ins');
    this.quarantine = join(root, 'quarantine');
    this.imports = join(root, '_imports');
    this.staging = join(root, '_staging');
  }

  async ensure(): Promise<void> {
    for (const d of [this.signIns, this.quarantine, this.imports, this.staging]) await fsp.mkdir(d, { recursive: true });
  }

  partitionDir(date: string, hour: number): string {
    // Values come from validated timestamps only (partitionOf), so no log field can steer this path.
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !Number.isInteger(hour) || hour < 0 || hour > 23) {
      throw new Error(`refusing partition date=${date} hour=${hour}`);
    }
    return join(this.signIns, `date=${date}`, `hour=${String(hour).padStart(2, '0')}`);
  }

  /**
   * Every whole Parquet file, optionally only in some partitions. A file without PAR1 at both ends
   * (a crash mid-copy by another tool, a truncated upload) would make DuckDB fail the whole query, so it
   * is moved to quarantine/torn/ and reported instead.
   */
  async files(partitions?: Iterable<string>): Promise<{ files: string[]; torn: string[] }> {
    const dirs = partitions ? [...partitions] : await this.partitionDirs();
    const files: string[] = [];
    const torn: string[] = [];
    for (const dir of dirs.sort()) {
      const names = (await readdirSafe(dir)).sort();
      const replaced = await replacedByCompaction(dir, names);
      for (const f of names) {
        if (!f.endsWith('.parquet') || replaced.has(f)) continue;
        const p = join(dir, f);
        if (this.verified.has(p) || (await isWholeParquet(p))) {
          this.verified.add(p);
          files.push(p);
        } else {
          torn.push(await this.quarantineTorn(p));
        }
      }
    }
    return { files, torn };
  }

  /** Every sign_ins/date=/hour=/ folder. */
  async partitionDirs(): Promise<string[]> {
    const dirs: string[] = [];
    for (const d of (await readdirSafe(this.signIns)).sort()) {
      if (!d.startsWith('date=')) continue;
      for (const h of (await readdirSafe(join(this.signIns, d))).sort()) if (h.startsWith('hour=')) dirs.push(join(this.signIns, d, h));
    }
    return dirs;
  }

  private async quarantineTorn(p: string): Promise<string> {
    const dest = join(this.quarantine, 'torn', relative(this.signIns, p));
    await fsp.mkdir(dirname(dest), { recursive: true });
    await fsp.rename(p, dest);
    return dest;
  }

  /**
   * Moves Parquet files that DuckDB wrote with `partition_by (date, hour)` under `out` into the lake:
   * fsync each file, rename it into its partition, fsync the folders. DuckDB names folders hour=9; the
   * lake pads the hour (hour=09), and partitionDir re-validates what DuckDB wrote.
   */
  async adopt(out: string): Promise<string[]> {
    const produced: string[] = [];
    for (const e of await fsp.readdir(out, { withFileTypes: true, recursive: true }).catch(() => [])) {
      if (e.isFile() && e.name.endsWith('.parquet')) produced.push(join(e.parentPath, e.name));
    }
    produced.sort();
    for (const f of produced) await fsyncFile(f);
    const moved: string[] = [];
    const touched = new Set<string>();
    for (const f of produced) {
      const parts = relative(out, f).split(sep);
      const dir = this.partitionDir(parts[0].replace(/^date=/, ''), Number(parts[1].replace(/^hour=/, '')));
      await fsp.mkdir(dir, { recursive: true });
      const dest = join(dir, parts[parts.length - 1]);
      await fsp.rename(f, dest);
      touched.add(dir);
      moved.push(dest);
    }
    for (const d of touched) await fsyncDir(d);
    return moved;
  }

  /** A writer's work folder under _staging/; its name starts with the writer's pid (see clearStaging). */
  stagingDir(name: string): string {
    return join(this.staging, `${process.pid}-${name}`);
  }

  /**
   * Leftovers of writers that died mid-batch: folders whose pid is not alive (or is ours, left by an earlier
   * process that had our pid). A live stream writer's folder is kept, so an import can start beside it.
   */
  async clearStaging(): Promise<void> {
    await fsp.mkdir(this.staging, { recursive: true });
    for (const name of await fsp.readdir(this.staging)) {
      const pid = Number(name.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) continue;
      await fsp.rm(join(this.staging, name), { recursive: true, force: true });
    }
  }

  /**
   * One writer lands at a time: a pid file created exclusively; a lock left by a dead process is taken
   * over. An import holds it for the whole import; a stream consumer only while it lands a batch, and
   * waits up to `waitMs` for it.
   */
  async lock(opts: { waitMs?: number; onWait?: (holder: number) => void } = {}): Promise<() => Promise<void>> {
    await this.ensure();
    return takePidLock(join(this.root, '_lock'), {
      ...opts,
      busy: (holder) => new CliError(`The lake ${this.root} is being written by process ${holder}. Wait for it to finish, or stop it; one import at a time per lake.`, 3),
    });
  }
}

/** Locks this process holds, so a second writer in the same process waits instead of taking them over. */
const HELD = new Set<string>();

/**
 * Takes the pid lock file at `path` (the lake's _lock, a sink outbox's lock): null when it is now ours, else the
 * pid holding it (0: another process is writing its pid right now). A lock whose process is gone is taken over.
 */
export async function tryPidLock(path: string): Promise<number | null> {
  try {
    const fh = await fsp.open(path, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY);
    await fh.writeFile(String(process.pid));
    await fh.close();
    HELD.add(path);
    return null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  if (HELD.has(path)) return process.pid;
  const pid = Number((await fsp.readFile(path, 'utf8').catch(() => '')).trim());
  const st = await fsp.stat(path).catch(() => null);
  // An empty file is a lock being taken right now, unless it has been empty for seconds.
  const halfWritten = !pid && st !== null && Date.now() - st.mtimeMs < 5000;
  if (halfWritten) return 0;
  if (pid && pid !== process.pid && isAlive(pid)) return pid;
  await fsp.rm(path, { force: true }); // stale: its owner is gone
  return tryPidLock(path);
}

/**
 * Takes the pid lock at `path`, waiting up to `waitMs` for its holder (telling `onWait` once); the error
 * `busy` gives is thrown when the wait is over. Resolves to the release.
 */
export async function takePidLock(path: string, o: { waitMs?: number; onWait?: (holder: number) => void; busy: (holder: number) => Error }): Promise<() => Promise<void>> {
  const deadline = Date.now() + (o.waitMs ?? 0);
  let told = false;
  for (;;) {
    const holder = await tryPidLock(path);
    if (holder === null) return () => releasePidLock(path);
    if (Date.now() >= deadline) throw o.busy(holder);
    if (!told) o.onWait?.(holder);
    told = true;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function releasePidLock(path: string): Promise<void> {
  HELD.delete(path);
  await fsp.rm(path, { force: true });
}

/**
 * Compaction (lake/compact.ts) swaps an hour's small files for one in a single rename: it first writes
 * `_compact-<id>.json` naming the files the merged one replaces, then renames the merged file in. From that
 * rename on, readers skip the replaced files even before they are deleted; a manifest whose merged file is
 * not there (compaction died before the switch) means nothing.
 */
export async function replacedByCompaction(dir: string, names: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const m of names) {
    if (!m.startsWith('_compact-') || !m.endsWith('.json')) continue;
    const manifest = JSON.parse(await fsp.readFile(join(dir, m), 'utf8')) as CompactionManifest;
    if (names.includes(manifest.file)) for (const r of manifest.replaces) out.add(r);
  }
  return out;
}
export interface CompactionManifest {
  file: string;
  replaces: string[];
  rows: number;
}

/**
 * A partition folder's key, 'YYYY-MM-DD/HH' (sortable as text), from `…/date=YYYY-MM-DD/hour=HH`; null for any
 * other path. Every reader that needs a partition's date or hour from its path uses this one parser.
 */
export function partitionKeyOfDir(dir: string): string | null {
  const m = /date=(\d{4}-\d{2}-\d{2})[\\/]hour=(\d{2})[\\/]?$/.exec(dir);
  return m ? `${m[1]}/${m[2]}` : null;
}

/** The start (epoch ms) of the hour partition a landed file is in; null for a path outside the layout. */
export function partitionStartOfFile(file: string): number | null {
  const key = partitionKeyOfDir(dirname(file));
  return key === null ? null : Date.parse(`${key.slice(0, 10)}T${key.slice(11, 13)}:00:00Z`);
}

/** A run's id, e.g. imp-20260414-091500-3fa2c1: sortable by start time, unique across processes. */
export function runId(prefix: string, at: Date): string {
  return `${prefix}-${at.toISOString().replace(/[-:.]/g, '').replace('T', '-').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
}

/** The SQL that reads lake files with their partition columns typed; every reader of the lake uses it. */
export function readLakeSql(files: readonly string[]): string {
  return `read_parquet(${stringList(files)}, hive_partitioning = true, hive_types = {'date': DATE, 'hour': INTEGER}, union_by_name = true)`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export async function isWholeParquet(path: string): Promise<boolean> {
  const fh = await fsp.open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size < 12) return false;
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    await fh.read(tail, 0, 4, size - 4);
    return head.toString('latin1') === 'PAR1' && tail.toString('latin1') === 'PAR1';
  } finally {
    await fh.close();
  }
}

/** Write, fsync, rename, fsync the folder: the file is visible whole or not at all. */
export async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await fsp.mkdir(dirname(path), { recursive: true });
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(path));
}

export async function fsyncFile(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL' && (e as NodeJS.ErrnoException).code !== 'EISDIR') throw e;
  } finally {
    await fh.close();
  }
}
