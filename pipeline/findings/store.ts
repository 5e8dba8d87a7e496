import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { atomicWrite, fsyncDir, fsyncFile } from '../lake/lake';
import { quoteIdent, quoteString } from '../sql/duckdb';

/**
 * The findings store: detection's result kept in the lake, so the analyst's commands read loops and
 * clusters instead of re-deriving them from every sign-in.
 *
 *   findings/manifest.json               which generation is current, and what it was computed from
 *   findings/<generation>/<table>.parquet the detection tables below, written together
 *   findings/loop_registry.parquet       the id registry (detect/registry.ts), kept across generations
 *
 * A generation is written into a new folder and made current by replacing manifest.json in one rename, so
 * a reader sees one whole generation or the previous one. The manifest records the lake's files and a
 * fingerprint of the definition (the detection SQL, the code table and every threshold in force): a reader
 * whose lake or thresholds differ knows the store does not answer its question.
 */
export const FINDINGS_DIR = 'findings';
/** loops and clusters are detection's internal tables (the workbench joins on their keys); the other two are the contracts. */
export const STORE_TABLES = ['loops', 'flagged_sessions', 'clusters', 'loop_clusters'] as const;

export interface FindingsManifest {
  format: 1;
  generation: string;
  /** The lake's Parquet files it was computed from, relative to the lake and sorted (names are unique per batch and compaction): an update re-derives only what files added or removed since can change. */
  files: string[];
  /** The newest sign-in the generation judged statuses against (ISO, microseconds). */
  as_of: string | null;
  /** Fingerprint of the detection SQL, the code table and the thresholds in force. */
  definition: string;
  sign_ins: number;
  loops: number;
  clusters: number;
  written_at: string;
}

export async function readManifest(lakeDir: string): Promise<FindingsManifest | null> {
  const path = join(lakeDir, FINDINGS_DIR, 'manifest.json');
  try {
    const m = JSON.parse(await fsp.readFile(path, 'utf8')) as FindingsManifest;
    return m.format === 1 && existsSync(join(lakeDir, FINDINGS_DIR, m.generation)) ? m : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // A damaged manifest is not an answer; detection writes a new one.
    return null;
  }
}

/** Writes the detection tables on `conn` as a new generation and makes it current; all but the previous one are removed. */
export async function saveFindings(conn: DuckDBConnection, lakeDir: string, m: Omit<FindingsManifest, 'format' | 'generation' | 'written_at'>): Promise<FindingsManifest> {
  const root = join(lakeDir, FINDINGS_DIR);
  const generation = `gen-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const dir = join(root, generation);
  await fsp.mkdir(dir, { recursive: true });
  for (const t of STORE_TABLES) {
    const path = join(dir, `${t}.parquet`);
    // A loop's evidence ids are kept once, in flagged_sessions (the largest column by far); the loops view joins them back.
    const cols = t === 'loops' ? '* exclude (sign_in_ids)' : '*';
    await conn.run(`copy (select ${cols} from ${quoteIdent(t)}) to ${quoteString(path)} (format parquet, compression zstd)`);
    await fsyncFile(path);
  }
  await fsyncDir(dir);
  const manifest: FindingsManifest = { format: 1, generation, ...m, written_at: new Date().toISOString() };
  await atomicWrite(join(root, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  // The previous generation stays for readers that attached it a moment ago; older ones go.
  const older = (await fsp.readdir(root)).filter((e) => e.startsWith('gen-') && e !== generation).sort();
  for (const e of older.slice(0, -1)) await fsp.rm(join(root, e), { recursive: true, force: true });
  return manifest;
}

/** Views named like the detection tables (with a prefix, if given) over a generation's files. */
export async function attachFindings(conn: DuckDBConnection, lakeDir: string, m: FindingsManifest, prefix = ''): Promise<void> {
  const file = (t: string) => quoteString(join(lakeDir, FINDINGS_DIR, m.generation, `${t}.parquet`));
  for (const t of STORE_TABLES) {
    const from = t === 'loops'
      ? `select l.*, f.sign_in_ids from read_parquet(${file('loops')}) as l join read_parquet(${file('flagged_sessions')}) as f using (loop_id)`
      : `select * from read_parquet(${file(t)})`;
    await conn.run(`create or replace temp view ${quoteIdent(prefix + t)} as ${from}`);
  }
}
