import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { withDuckDB } from '../../pipeline/sql/duckdb';
import { Lake, readLakeSql } from '../../pipeline/lake/lake';
import { resultSet } from '../../pipeline/detect/detect';

export const REPO = resolve(__dirname, '..', '..');
/** Public samples live beside the repo (never committed): ../shared/samples/public. */
export const PUBLIC_SAMPLES = resolve(REPO, '..', 'shared', 'samples', 'public');

/** A fresh temp folder per test file, removed afterwards. */
export function tempDir(prefix = 'reauth-'): { path: string; sub: (name: string) => string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, sub: (name) => join(path, name), cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Every landed row of a lake, read back with a real DuckDB. */
export async function lakeRows(lakeDir: string, where = 'true'): Promise<Record<string, unknown>[]> {
  const { files } = await new Lake(lakeDir).files();
  if (!files.length) return [];
  return withDuckDB({}, async (conn) => {
    return (await resultSet(conn, `select * from ${readLakeSql(files)} where ${where} order by created_at, sign_in_id, log_category`)).rows;
  });
}
