import { join } from 'node:path';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { SIGN_IN_COLUMNS } from '../normalize/columns';
import { Lake, partitionKeyOfDir, readLakeSql } from '../lake/lake';
import { bindings, coerceParam, loadQuery, queriesDir, type ParamDecl, type ParamValues } from '../sql/queries';
import { columnKindOf, type Column } from '../cli/output';
import { quoteIdent, quoteString, withDuckDB, type DuckDBOptions } from '../sql/duckdb';
import { loadRegistry, saveRegistry, withRegistryLock } from './registry';

/**
 * One definition of a loop, in SQL, layered like a dbt project. Batch (`detect`, `clusters`, `query`) and,
 * later, streaming detection all run these same files in this order.
 */
export const LAYERS = [
  'staging/sign_ins',
  'detect/flows',
  'detect/prompts',
  'detect/episodes',
  'detect/loops',
  'detect/loop_registry',
  'detect/incidents',
  'detect/clusters',
  'detect/cluster_registry',
  'detect/flagged_sessions',
  'detect/loop_clusters',
] as const;
export type Layer = (typeof LAYERS)[number];

/** Every threshold the detection layers declare (each is declared once in queries/), for `--help` and validation. */
export function allParams(): ParamDecl[] {
  return LAYERS.flatMap((l) => loadQuery(l).declares);
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

/**
 * Creates `lake_sign_ins` over the lake's whole Parquet files (an empty table when there are none), `error_codes`
 * and the lake's registry of finding ids (registry.ts), which every reader needs to name loops alike.
 * With `since`, only the hour partitions from that hour on are read (continuous detection's window).
 */
export async function attachLake(conn: DuckDBConnection, lakeDir: string, since?: Date): Promise<{ files: number; torn: string[] }> {
  const lake = new Lake(lakeDir);
  // Keys are 'YYYY-MM-DD/HH', so they compare as text.
  const from = since?.toISOString().slice(0, 13).replace('T', '/');
  const partitions = from ? (await lake.partitionDirs()).filter((d) => (partitionKeyOfDir(d) ?? '') >= from) : undefined;
  const { files, torn } = await lake.files(partitions);
  // Always a temp view, so a long-lived connection (continuous detection) can switch between the two.
  if (files.length) {
    await conn.run(`create or replace temp view lake_sign_ins as select * from ${readLakeSql(files)}`);
  } else {
    const cols = [...SIGN_IN_COLUMNS.map((c) => `${c.name} ${c.type === 'JSON' ? 'VARCHAR' : c.type}`), 'date DATE', 'hour INTEGER'];
    await conn.run(`create or replace temp table empty_lake (${cols.join(', ')})`);
    await conn.run('create or replace temp view lake_sign_ins as select * from empty_lake');
  }
  await conn.run(`create or replace temp table error_codes as select * from read_csv(${quoteString(join(queriesDir(), 'reference', 'error_codes.csv'))}, header = true, columns = {'error_code': 'INTEGER', 'outcome': 'VARCHAR', 'meaning': 'VARCHAR'})`);
  await loadRegistry(conn, lakeDir);
  return { files: files.length, torn };
}

/** Materialize layers in order, up to and including `upto`. */
export async function runLayers(conn: DuckDBConnection, params: ParamValues, upto: Layer = 'detect/loop_clusters'): Promise<void> {
  for (const name of LAYERS) {
    await runLayer(conn, name, params);
    if (name === upto) return;
  }
}

/** Materialize one layer over the tables already there (the SQL tests give a layer its input tables). */
export async function runLayer(conn: DuckDBConnection, name: Layer, params: ParamValues = {}): Promise<void> {
  const q = loadQuery(name);
  const { values, types } = bindings(q, params);
  if (q.view) await conn.run(`create or replace temp view ${q.table} as\n${q.sql}`);
  else await conn.run(`create or replace temp table ${q.table} as\n${q.sql}`, values, types);
}

export interface DetectionResult {
  flagged: ResultSet;
  clusters: ResultSet;
  signIns: number;
  files: number;
  torn: string[];
}

/** Detection over the whole lake (or the window params' from/to give); records the ids it found in the lake. */
export async function detect(lakeDir: string, params: ParamValues = {}, db: DuckDBOptions = {}): Promise<DetectionResult> {
  return withDuckDB({ memoryLimit: '1GB', ...db }, (conn) => withRegistryLock(lakeDir, async () => {
    const { files, torn } = await attachLake(conn, lakeDir);
    await runLayers(conn, params);
    if (files) await saveRegistry(conn, lakeDir);
    const flagged = await resultSet(conn, 'select * from flagged_sessions');
    const clusters = await resultSet(conn, 'select * from loop_clusters');
    // Same count as sign_ins (its join is a left join), read from Parquet metadata instead of a scan.
    const signIns = Number((await conn.runAndReadAll('select count(*) from lake_sign_ins')).getRows()[0][0]);
    return { flagged, clusters, signIns, files, torn };
  }));
}

export interface ResultSet {
  columns: Column[];
  rows: Record<string, unknown>[];
}

/**
 * A query's rows as the NDJSON contract promises them: integers as JSON numbers, lists as arrays, JSON
 * columns as their text; plus the column kinds the output formats need. DuckDB serializes the rows itself
 * (to_json): the client's per-value conversion took 10 s for 25,000 loops with their evidence lists.
 */
export async function resultSet(conn: DuckDBConnection, sql: string, params?: Record<string, DuckDBValue>): Promise<ResultSet> {
  const body = sql.trim().replace(/;+\s*$/, '');
  await conn.run(`create or replace temp table __result as ${body}`, params);
  try {
    return await readResultTable(conn, '__result');
  } finally {
    await conn.run('drop table if exists __result');
  }
}

/** `resultSet`'s second half, for a table the caller filled itself (the query sandbox runs one verified statement). */
export async function readResultTable(conn: DuckDBConnection, table: string): Promise<ResultSet> {
  const from = quoteIdent(table);
  const meta = await conn.runAndReadAll(`select * from ${from} limit 0`);
  const names = meta.columnNames();
  const types = meta.columnTypes();
  const kinds = types.map((t) => columnKindOf(t));
  // JSON-typed columns would be inlined as objects by to_json; the contract keeps them as text.
  const select = names.map((n, i) => ((types[i] as { alias?: string }).alias === 'JSON' ? `${quoteIdent(n)}::VARCHAR as ${quoteIdent(n)}` : quoteIdent(n))).join(', ');
  const reader = await conn.runAndReadAll(names.length ? `select to_json(r)::VARCHAR from (select ${select} from ${from}) as r` : 'select 1 where false');
  const out = reader.getColumns()[0]?.map((v) => JSON.parse(String(v)) as Record<string, unknown>) ?? [];
  return { columns: names.map((name, i) => ({ name, kind: kinds[i] })), rows: out };
}
