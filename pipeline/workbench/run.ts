import type { DuckDBConnection } from '@duckdb/node-api';
import { detectInto, resultSet, runLayer, type ResultSet } from '../detect/detect';
import { bindings, loadQuery, type ParamValues } from '../sql/queries';
import { readLakeSql } from '../lake/lake';
import { quoteIdent, quoteString, withDuckDB, type DuckDBOptions } from '../sql/duckdb';

/**
 * The analyst's workbench (`loops`, `user`, `explain`, filtered `clusters`) reads what `detect` found: the
 * findings store in the lake (findings/store.ts), then a query from queries/workbench/ over it. Nothing here
 * defines a loop. When the store does not answer (new sign-ins since, other thresholds, no store yet),
 * detection runs once as `detect` would, and with the default thresholds leaves an up-to-date store for the
 * next command.
 */
export interface DetectionInfo {
  files: number;
  torn: string[];
  signIns: number;
  /** The findings came from the store (true) or were computed by this command. */
  fromStore: boolean;
  /**
   * Makes `flows` and `prompts` (the per-attempt tables explain and user read) exist for one user over at
   * least [from, to) (microseconds): when the findings came from the store, computed for that scope only,
   * and `sign_ins` then holds only that user's rows in those days.
   */
  prompts: (scope: { from: number; to: number; userKey: string }) => Promise<void>;
}

/** The findings of the lake (from the store, or computed and stored) on one connection, then `fn` on it. */
export async function withDetection<T>(
  lakeDir: string,
  thresholds: ParamValues,
  db: DuckDBOptions,
  fn: (conn: DuckDBConnection, info: DetectionInfo) => Promise<T>,
): Promise<T> {
  return withDuckDB({ memoryLimit: '1GB', ...db }, async (conn) => {
    // With the default thresholds the result is the lake's findings: read from the store, updated first
    // where sign-ins landed since. Other thresholds are a what-if: computed, shown, not recorded.
    const r = await detectInto(conn, lakeDir, thresholds, { record: Object.keys(thresholds).length === 0 });
    const whole = r.mode === 'rebuilt';
    const prompts = async (w: { from: number; to: number; userKey: string }) => {
      // A rebuild left flows and prompts over the whole lake; otherwise they are made for this user and period.
      if (whole) return;
      // One user's rows, in the days of the scope (the partitions outside are not read), read once: every
      // query after this (steps, codes, evidence, the timeline) reads them instead of the lake.
      const day = (us: number) => quoteString(new Date(Math.floor(us / 1000)).toISOString().slice(0, 10));
      // Two plain equalities (not coalesce) so DuckDB filters inside the Parquet scan.
      const lake = readLakeSql(r.paths);
      const key = quoteString(w.userKey);
      const days = `date between ${day(w.from)} and ${day(w.to)}`;
      await conn.run(`create or replace temp table scoped_sign_ins as
        select * from ${lake} where ${days} and user_id = ${key}
        union all
        select * from ${lake} where ${days} and user_id is null and user_principal_name = ${key}`);
      await conn.run('create or replace temp view lake_sign_ins as select * from scoped_sign_ins');
      await runLayer(conn, 'detect/flows', { ...thresholds, from: w.from, to: w.to });
      await runLayer(conn, 'detect/prompts');
    };
    return fn(conn, { files: r.files, torn: r.torn, signIns: r.signIns, fromStore: r.mode === 'current', prompts });
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
