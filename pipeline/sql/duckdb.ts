import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** What cannot be bound as a parameter (file paths, globs) is quoted here, and only here. */
export function quoteString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
export function stringList(items: readonly string[]): string {
  return `[${items.map(quoteString).join(', ')}]`;
}

export interface DuckDBOptions {
  /** e.g. '1GB'. Detection on 10M sign-ins fits in 2 GB; imports need far less. */
  memoryLimit?: string;
  threads?: number;
  tempDirectory?: string;
}

/**
 * An in-memory DuckDB for as long as the caller needs it (a stream consumer keeps one open). All times are
 * naive TIMESTAMP in UTC: the bundled DuckDB has no ICU, so TIMESTAMPTZ arithmetic is avoided throughout.
 */
export async function openDuckDB(opts: DuckDBOptions): Promise<{ conn: DuckDBConnection; close: () => void }> {
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(opts.threads ?? 2),
    ...(opts.memoryLimit ? { memory_limit: opts.memoryLimit } : {}),
    // An in-memory database has nowhere to spill by default; past memory_limit it would fail instead.
    temp_directory: opts.tempDirectory ?? join(tmpdir(), `reauth-loops-duckdb-${process.pid}`),
  });
  const conn = await instance.connect();
  return {
    conn,
    close: () => {
      conn.closeSync();
      instance.closeSync();
    },
  };
}

/** Opens an in-memory DuckDB, runs `fn`, and always releases the native handles. */
export async function withDuckDB<T>(opts: DuckDBOptions, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const db = await openDuckDB(opts);
  try {
    return await fn(db.conn);
  } finally {
    db.close();
  }
}
