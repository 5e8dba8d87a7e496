import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteString, stringList, withDuckDB } from '../sql/duckdb';
import { atomicWrite, fsyncDir, fsyncFile, Lake, partitionKeyOfDir, replacedByCompaction, runId, type CompactionManifest } from './lake';

export interface CompactOptions {
  /** Only hours that ended at least this long ago (late sign-ins keep arriving for a while). Default 60. */
  settledMinutes?: number;
  /** Only hours with at least this many files. Default 2. */
  minFiles?: number;
  /** Only these partitions ('YYYY-MM-DD/HH'). */
  only?: string[];
  /** Merge only files smaller than this (a minor compaction, for hours still filling): earlier merges stay as they are. */
  maxFileBytes?: number;
  now?: () => Date;
  /** How long each hour waits for the lake lock (an import holds it for its whole run). Default 10 min. */
  lockWaitMs?: number;
}

export interface CompactedHour {
  partition: string;
  files_before: number;
  rows: number;
  bytes_before: number;
  bytes_after: number;
  file: string;
}

/**
 * Merges each settled hour's small files (a stream commits one per hour touched per roll) into one, so
 * readers open dozens of files a day instead of thousands. Per hour, under the lake lock:
 *   1. finish or undo any compaction a crash interrupted (see replacedByCompaction);
 *   2. COPY the hour's files into one zstd Parquet under _staging/, fsync, and check its row count;
 *   3. write the manifest, rename the merged file in (the switch), fsync the folder;
 *   4. delete the replaced files and then the manifest.
 * A reader sees either the old files or the merged one, never both and never neither.
 */
export async function compactLake(lakeDir: string, opts: CompactOptions = {}): Promise<CompactedHour[]> {
  const lake = new Lake(lakeDir);
  const now = (opts.now ?? (() => new Date()))().getTime();
  const settledMs = (opts.settledMinutes ?? 60) * 60_000;
  const out: CompactedHour[] = [];
  await withDuckDB({ memoryLimit: '1GB' }, async (conn) => {
    for (const dir of await lake.partitionDirs()) {
      const key = partitionKeyOfDir(dir);
      if (!key) continue;
      const [date, hour] = [key.slice(0, 10), Number(key.slice(11))];
      if (opts.only && !opts.only.includes(key)) continue;
      if (Date.parse(`${date}T00:00:00Z`) + (hour + 1) * 3_600_000 + settledMs > now) continue;
      const unlock = await lake.lock({ waitMs: opts.lockWaitMs ?? 10 * 60_000 });
      try {
        await finishInterrupted(dir);
        const { files: all } = await lake.files([dir]);
        const files = opts.maxFileBytes === undefined ? all : await smallerThan(all, opts.maxFileBytes);
        if (files.length < (opts.minFiles ?? 2)) continue;
        out.push({ partition: key, ...(await compactHour(lake, conn, dir, files)) });
      } finally {
        await unlock();
      }
    }
  });
  return out;
}

async function compactHour(lake: Lake, conn: DuckDBConnection, dir: string, files: string[]): Promise<Omit<CompactedHour, 'partition'>> {
  const id = runId('compact', new Date());
  const name = `${id}.parquet`;
  const work = lake.stagingDir(id);
  await fsp.mkdir(work, { recursive: true });
  try {
    const staged = join(work, name);
    const before = await countRows(conn, files);
    // Rows keep their columns as landed; hive columns come from the folder, as for every other file.
    await conn.run(`copy (select * from read_parquet(${stringList(files)}, hive_partitioning = false, union_by_name = true)) to ${quoteString(staged)} (format parquet, compression zstd)`);
    const after = await countRows(conn, [staged]);
    if (after !== before) throw new Error(`compaction of ${dir} wrote ${after} rows for ${before}; nothing was changed`);
    await fsyncFile(staged);
    const manifest: CompactionManifest = { file: name, replaces: files.map((f) => basename(f)), rows: after };
    const manifestPath = join(dir, `_${id}.json`);
    await atomicWrite(manifestPath, JSON.stringify(manifest) + '\n');
    await fsp.rename(staged, join(dir, name)); // the switch
    await fsyncDir(dir);
    const bytesBefore = (await Promise.all(files.map((f) => fsp.stat(f).then((s) => s.size)))).reduce((a, b) => a + b, 0);
    for (const f of files) await fsp.rm(f, { force: true });
    await fsyncDir(dir);
    await fsp.rm(manifestPath, { force: true });
    return { files_before: files.length, rows: after, bytes_before: bytesBefore, bytes_after: (await fsp.stat(join(dir, name))).size, file: join(dir, name) };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/** A manifest left by a crash: after the switch, finish the deletes; before it, drop the manifest. */
async function finishInterrupted(dir: string): Promise<void> {
  const names = await fsp.readdir(dir);
  const replaced = await replacedByCompaction(dir, names);
  for (const f of replaced) await fsp.rm(join(dir, f), { force: true });
  for (const m of names.filter((n) => n.startsWith('_compact-') && n.endsWith('.json'))) await fsp.rm(join(dir, m), { force: true });
  await fsyncDir(dir);
}

async function smallerThan(files: string[], bytes: number): Promise<string[]> {
  const sizes = await Promise.all(files.map((f) => fsp.stat(f).then((s) => s.size)));
  return files.filter((_, i) => sizes[i] < bytes);
}

/**
 * For the hours a continuous consumer keeps writing 5-second files into (the one filling included): merge their
 * small files once `minFiles` pile up. Detection reads the recent hours every few seconds, and hundreds of
 * small files would cost it more than the merge does.
 */
export function minorCompaction(partitions: Iterable<string>): CompactOptions {
  return { only: [...partitions], settledMinutes: -60, minFiles: 12, maxFileBytes: 8 * 1024 * 1024 };
}

/** A lake file's partition key, 'YYYY-MM-DD/HH', from its path. */
export function partitionKeyOf(file: string): string | null {
  return partitionKeyOfDir(dirname(file));
}

async function countRows(conn: DuckDBConnection, files: string[]): Promise<number> {
  const r = await conn.runAndReadAll(`select coalesce(sum(num_rows), 0)::BIGINT as n from parquet_file_metadata(${stringList(files)})`);
  return Number(r.getRowObjects()[0].n);
}
