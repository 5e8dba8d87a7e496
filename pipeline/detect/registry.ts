import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { fsyncDir, fsyncFile, takePidLock } from '../lake/lake';
import { CliError } from '../errors';
import { quoteString } from '../sql/duckdb';
import { FINDINGS_DIR } from '../findings/store';

/**
 * The lake's registry of finding ids, so a loop or incident keeps the id it was first found with (the rules
 * are in queries/detect/loops.sql and clusters.sql):
 *   findings/loop_registry.parquet      every loop id found so far, its session, span and aliases
 *   findings/cluster_registry.parquet   every cluster id found so far, its members and aliases
 * Every reader of detection loads it (read as known_loops, known_clusters), so `detect`, the workbench, the
 * report and the live alert feed name a loop alike; `detect` and continuous detection write it back. Each
 * file is replaced whole (written beside, fsynced, renamed), under <lake>/_findings_lock, so two writers do not
 * lose each other's ids.
 */
const FILES = { known_loops: 'loop_registry.parquet', known_clusters: 'cluster_registry.parquet' } as const;
const SAVED = { loop_registry: FILES.known_loops, cluster_registry: FILES.known_clusters } as const;

const EMPTY = {
  known_loops: 'loop_id VARCHAR, session_key UBIGINT, start TIMESTAMP, "end" TIMESTAMP, found_at TIMESTAMP, alias_of VARCHAR',
  known_clusters: 'cluster_id VARCHAR, tenant_id VARCHAR, start TIMESTAMP, "end" TIMESTAMP, loop_ids VARCHAR[], found_at TIMESTAMP, alias_of VARCHAR',
} as const;

/** Loads the lake's registry as known_loops and known_clusters (empty tables for a lake without one). */
export async function loadRegistry(conn: DuckDBConnection, lakeDir: string | null): Promise<void> {
  for (const [table, file] of Object.entries(FILES) as [keyof typeof FILES, string][]) {
    const path = lakeDir === null ? null : join(lakeDir, FINDINGS_DIR, file);
    if (path && existsSync(path)) {
      await conn.run(`create or replace temp table ${table} as select * from read_parquet(${quoteString(path)})`);
    } else {
      await conn.run(`create or replace temp table ${table} (${EMPTY[table]})`);
    }
  }
}

/** Writes this run's loop_registry and cluster_registry back to the lake, each file whole or not at all. */
export async function saveRegistry(conn: DuckDBConnection, lakeDir: string): Promise<void> {
  const dir = join(lakeDir, FINDINGS_DIR);
  await fsp.mkdir(dir, { recursive: true });
  for (const [table, file] of Object.entries(SAVED)) {
    const path = join(dir, file);
    const tmp = `${path}.${process.pid}.tmp`;
    // Sorted, so the same registry is the same bytes.
    await conn.run(`copy (select * from ${table} order by all) to ${quoteString(tmp)} (format parquet, compression zstd)`);
    await fsyncFile(tmp);
    await fsp.rename(tmp, path);
  }
  await fsyncDir(dir);
}

/**
 * Runs `fn` holding the registry's lock: load, detect, save happen as one step, so a `detect` beside a
 * running consumer cannot overwrite the ids the consumer just recorded. Waits up to `waitMs` for the holder.
 */
export async function withRegistryLock<T>(lakeDir: string, fn: () => Promise<T>, waitMs = 120_000): Promise<T> {
  // Nothing to record in a lake that is not there (and no folder to create for a mistyped path). The lock
  // sits in the lake's root, so taking it creates nothing: findings/ appears once there is something to keep.
  if (!existsSync(lakeDir)) return fn();
  const release = await takePidLock(join(lakeDir, '_findings_lock'), {
    waitMs,
    busy: (holder) => new CliError(`The findings of ${lakeDir} are being updated by process ${holder}. Wait for it to finish (a running consume or watch updates them every round), then retry.`, 3),
  });
  try {
    return await fn();
  } finally {
    await release();
  }
}
