import type { DuckDBConnection } from '@duckdb/node-api';
import { attachLake, resultSet, runLayers, type ResultSet } from '../detect/detect';
import { bindings, loadQuery, type ParamValues } from '../sql/queries';
import { quoteIdent, withDuckDB, type DuckDBOptions } from '../sql/duckdb';

/**
 * The analyst's workbench (`loops`, `user`, `explain`, filtered `clusters`) reads what `detect` computes: the
 * same layers over the same lake, then a query from queries/workbench/ over them. Nothing here defines a loop.
 */
export interface DetectionInfo {
  files: number;
  torn: string[];
  signIns: number;
}

/** Run every detection layer on the lake, then `fn` on the same connection. */
export async function withDetection<T>(
  lakeDir: string,
  thresholds: ParamValues,
  db: DuckDBOptions,
  fn: (conn: DuckDBConnection, info: DetectionInfo) => Promise<T>,
): Promise<T> {
  return withDuckDB({ memoryLimit: '1GB', ...db }, async (conn) => {
    const { files, torn } = await attachLake(conn, lakeDir);
    await runLayers(conn, thresholds);
    // Same count as sign_ins (a left join), read from Parquet metadata instead of a scan.
    const signIns = Number((await conn.runAndReadAll('select count(*) from lake_sign_ins')).getRows()[0][0]);
    return fn(conn, { files, torn, signIns });
  });
}

/** A queries/workbench/ file's rows; values for its @params are bound, defaults fill the rest. */
export async function workbenchQuery(conn: DuckDBConnection, name: string, given: ParamValues = {}): Promise<ResultSet> {
  const q = loadQuery(`workbench/${name}`);
  return resultSet(conn, q.sql, bindings(q, given).values);
}

/** Materialize a queries/workbench/ file as a temp table named after it, for later queries to read. */
export async function workbenchTable(conn: DuckDBConnection, name: string, given: ParamValues = {}): Promise<void> {
  const q = loadQuery(`workbench/${name}`);
  const { values, types } = bindings(q, given);
  await conn.run(`create or replace temp table ${quoteIdent(q.table)} as\n${q.sql}`, values, types);
}

/** A table's rows in insertion order (DuckDB keeps it for a plain scan), e.g. one workbenchTable made sorted. */
export async function tableRows(conn: DuckDBConnection, table: string): Promise<ResultSet> {
  return resultSet(conn, `select * from ${quoteIdent(table)}`);
}
