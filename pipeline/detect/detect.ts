import { join } from 'node:path';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { SIGN_IN_COLUMNS } from '../normalize/columns';
import { Lake } from '../lake/lake';
import { bindings, coerceParam, loadQuery, queriesDir, type ParamDecl, type ParamValues } from '../sql/queries';
import { columnKindOf, type Column } from '../cli/output';
import { quoteString, stringList, withDuckDB, type DuckDBOptions } from '../sql/duckdb';

/**
 * One definition of a loop, in SQL, layered like a dbt project. Batch (`detect`, `clusters`, `query`) and,
 * later, streaming detection all run these same files in this order.
 */
export const LAYERS = [
  'staging/sign_ins',
  'detect/prompts',
  'detect/loops',
  'detect/clusters',
  'detect/flagged_sessions',
  'detect/loop_clusters',
] as const;
export type Layer = (typeof LAYERS)[number];

/** Every threshold any layer declares, for `--help` and validation. */
export function allParams(): ParamDecl[] {
  const seen = new Map<string, ParamDecl>();
  for (const l of LAYERS) for (const p of loadQuery(l).params) if (!seen.has(p.name)) seen.set(p.name, p);
  return [...seen.values()];
}

/** Check user-given thresholds once, at the edge, so a typo fails before any work. */
export function validateParams(given: ParamValues): ParamValues {
  const decls = new Map(allParams().map((p) => [p.name, p]));
  const out: ParamValues = {};
  for (const [k, v] of Object.entries(given)) {
    const d = decls.get(k);
    if (!d) throw new Error(`unknown threshold ${k}; known: ${[...decls.keys()].join(', ')}`);
    out[k] = coerceParam(d, v);
  }
  return out;
}

/** Creates `lake_sign_ins` over the lake's whole Parquet files (an empty table when there are none) and `error_codes`. */
export async function attachLake(conn: DuckDBConnection, lakeDir: string): Promise<{ files: number; torn: string[] }> {
  const { files, torn } = await new Lake(lakeDir).files();
  if (files.length) {
    await conn.run(`create or replace view lake_sign_ins as select * from read_parquet(${stringList(files)}, hive_partitioning = true, hive_types = {'date': DATE, 'hour': INTEGER}, union_by_name = true)`);
  } else {
    const cols = [...SIGN_IN_COLUMNS.map((c) => `${c.name} ${c.type === 'JSON' ? 'VARCHAR' : c.type}`), 'date DATE', 'hour INTEGER'];
    await conn.run(`create or replace temp table lake_sign_ins (${cols.join(', ')})`);
  }
  await conn.run(`create or replace temp table error_codes as select * from read_csv(${quoteString(join(queriesDir(), 'reference', 'error_codes.csv'))}, header = true, columns = {'error_code': 'INTEGER', 'outcome': 'VARCHAR', 'meaning': 'VARCHAR'})`);
  return { files: files.length, torn };
}

/** Materialize layers in order, up to and including `upto`. */
export async function runLayers(conn: DuckDBConnection, params: ParamValues, upto: Layer = 'detect/loop_clusters'): Promise<void> {
  for (const name of LAYERS) {
    const q = loadQuery(name);
    const { values, types } = bindings(q, params);
    if (q.view) await conn.run(`create or replace temp view ${q.table} as\n${q.sql}`);
    else await conn.run(`create or replace temp table ${q.table} as\n${q.sql}`, values, types);
    if (name === upto) return;
  }
}

export interface DetectionResult {
  flagged: ResultSet;
  clusters: ResultSet;
  signIns: number;
  files: number;
  torn: string[];
}

export async function detect(lakeDir: string, params: ParamValues = {}, db: DuckDBOptions = {}): Promise<DetectionResult> {
  return withDuckDB({ memoryLimit: '1GB', ...db }, async (conn) => {
    const { files, torn } = await attachLake(conn, lakeDir);
    await runLayers(conn, params);
    const flagged = await resultSet(conn, 'select * from flagged_sessions');
    const clusters = await resultSet(conn, 'select * from loop_clusters');
    const signIns = Number((await conn.runAndReadAll('select count(*) from sign_ins')).getRows()[0][0]);
    return { flagged, clusters, signIns, files, torn };
  });
}

export interface ResultSet {
  columns: Column[];
  rows: Record<string, unknown>[];
}

/**
 * A query's rows as the NDJSON contract promises them: integers as JSON numbers (DuckDB hands BIGINT over
 * as text), lists as arrays, JSON columns parsed; plus the column kinds the output formats need.
 */
export async function resultSet(conn: DuckDBConnection, sql: string, params?: Record<string, DuckDBValue>): Promise<ResultSet> {
  const reader = await conn.runAndReadAll(sql, params);
  const names = reader.columnNames();
  const kinds = reader.columnTypes().map((t) => columnKindOf(t));
  const out = reader.getRowObjectsJson().map((r) => {
    const o: Record<string, unknown> = {};
    names.forEach((n, i) => {
      const v = r[n];
      o[n] = kinds[i] === 'integer' && typeof v === 'string' ? Number(v) : kinds[i] === 'integer[]' && Array.isArray(v) ? v.map(Number) : v;
    });
    return o;
  });
  return { columns: names.map((name, i) => ({ name, kind: kinds[i] })), rows: out };
}

export async function rows(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await resultSet(conn, sql)).rows;
}
