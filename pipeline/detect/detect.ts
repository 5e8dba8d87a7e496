import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { CliError } from '../errors';
import { SIGN_IN_COLUMNS } from '../normalize/columns';
import { Lake, partitionKeyOfDir, partitionStartOfFile, readLakeSql } from '../lake/lake';
import { bindings, coerceParam, loadQuery, queriesDir, type ParamDecl, type ParamValues } from '../sql/queries';
import { columnKindOf, type Column } from '../cli/output';
import { quoteIdent, quoteString, withDuckDB, type DuckDBOptions } from '../sql/duckdb';
import { attachFindings, readManifest, saveFindings, type FindingsManifest } from '../findings/store';
import { isoOfMicros } from '../normalize/time';
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
 * With `since`, only the hour partitions from that hour on are read (continuous detection's window); a
 * long-lived caller passes its own `lake`, so files already checked whole are not checked again.
 */
export async function attachLake(conn: DuckDBConnection, lakeDir: string, since?: Date, lake = new Lake(lakeDir)): Promise<{ files: number; torn: string[]; paths: string[] }> {
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
  return { files: files.length, torn, paths: files };
}

/** Materialize layers in order, from `start` (default: the first) up to and including `upto`. */
export async function runLayers(conn: DuckDBConnection, params: ParamValues, upto: Layer = 'detect/loop_clusters', start: Layer = LAYERS[0]): Promise<void> {
  for (const name of LAYERS.slice(LAYERS.indexOf(start))) {
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
  mode: DetectedLake['mode'];
  from: string | null;
}

/**
 * What the findings store must match to answer for these thresholds: the detection SQL, the code table and
 * every threshold in force (defaults included, so a changed default is a changed definition).
 */
export function definitionFingerprint(params: ParamValues): string {
  const h = createHash('sha256');
  for (const name of LAYERS) h.update(loadQuery(name).sql);
  h.update(readFileSync(join(queriesDir(), 'reference', 'error_codes.csv')));
  const resolved = Object.fromEntries(allParams().map((p) => [p.name, String(params[p.name] ?? p.default)]));
  for (const k of ['from', 'to']) if (params[k] !== undefined) resolved[k] = String(params[k]);
  h.update(JSON.stringify(Object.entries(resolved).sort()));
  return h.digest('hex');
}

export interface DetectedLake {
  files: number;
  torn: string[];
  signIns: number;
  manifest: FindingsManifest | null;
  /**
   * How the findings were made: `rebuilt` from every sign-in; `updated` by re-deriving only from `from` on
   * (the hours new sign-ins touched, widened to whole loops and incidents); `current`: nothing had changed.
   */
  mode: 'rebuilt' | 'updated' | 'current';
  from: string | null;
  /** The lake files read. */
  paths: string[];
}

/**
 * Detection over the whole lake (or the window params' from/to give) on `conn`, leaving the detection tables
 * there; records the ids it found (the registry) and its result (the findings store) in the lake, unless
 * `record` is false (a what-if with other thresholds, whose loops should not take ids).
 *
 * With a store for the same definition, only the loops new (or removed) files can reach are re-derived from
 * sign-ins (updateWindow says which); the other stored loops are kept, and incidents and the contracts are
 * derived again over all loops. The result equals `rebuild` (a property test replays random arrival orders,
 * late data and restarts).
 */
export async function detectInto(conn: DuckDBConnection, lakeDir: string, params: ParamValues = {}, o: { record?: boolean; rebuild?: boolean } = {}): Promise<DetectedLake> {
  return withRegistryLock(lakeDir, async () => {
    const { files, torn, paths } = await attachLake(conn, lakeDir);
    // An empty answer from an empty lake would read as "nobody is looping".
    if (!files) throw new CliError(`No sign-ins in ${lakeDir}${torn.length ? ` (its ${torn.length} torn file(s) were moved to quarantine/torn/)` : ''}: nothing has landed there yet. Fill it with \`reauth-loops import\` or \`consume\` first.`, 2);
    const record = o.record !== false;
    const definition = definitionFingerprint(params);
    const windowed = params.from !== undefined || params.to !== undefined;
    const stored = record && !o.rebuild && !windowed ? await readManifest(lakeDir) : null;
    const rel = paths.map((p) => relative(lakeDir, p)).sort();
    let update: { from: number; keepBefore: number } | null = null;
    if (stored && stored.definition === definition && stored.files) {
      const before = new Set(stored.files);
      const now = new Set(rel);
      const changed = [...rel.filter((f) => !before.has(f)), ...stored.files.filter((f) => !now.has(f))];
      if (!changed.length) {
        await attachFindings(conn, lakeDir, stored);
        await runLayer(conn, 'staging/sign_ins');
        await conn.run('create or replace temp view loop_registry as select * from known_loops');
        await conn.run('create or replace temp view cluster_registry as select * from known_clusters');
        return { files, torn, paths, signIns: stored.sign_ins, manifest: stored, mode: 'current' as const, from: null };
      }
      await attachFindings(conn, lakeDir, stored, 'stored_');
      update = await updateWindow(conn, stored, changed, params);
    }
    if (update) {
      // Loops from the window's sign-ins, the stored ones nothing new can reach kept as they were; then
      // incidents and the contracts over all of them (cheap: loops, not sign-ins).
      await runLayers(conn, { ...params, from: update.from }, 'detect/loops');
      await keepStoredLoops(conn, update.keepBefore);
      await runLayers(conn, params, 'detect/loop_clusters', 'detect/loop_registry');
    } else {
      await runLayers(conn, params);
    }
    // Same count as sign_ins (its join is a left join), read from Parquet metadata instead of a scan.
    const signIns = Number((await conn.runAndReadAll('select count(*) from lake_sign_ins')).getRows()[0][0]);
    let manifest: FindingsManifest | null = null;
    if (record) {
      await saveRegistry(conn, lakeDir);
      const count = async (t: string) => Number((await conn.runAndReadAll(`select count(*) from ${t}`)).getRows()[0][0]);
      manifest = await saveFindings(conn, lakeDir, {
        files: rel,
        as_of: await newestSignIn(conn),
        definition,
        sign_ins: signIns,
        loops: await count('flagged_sessions'),
        clusters: await count('loop_clusters'),
      });
    }
    return { files, torn, paths, signIns, manifest, mode: update ? ('updated' as const) : ('rebuilt' as const), from: update ? isoOfMicros(update.from) : null };
  });
}

/** The lake's newest sign-in (ISO, microseconds), from the Parquet statistics. */
async function newestSignIn(conn: DuckDBConnection): Promise<string | null> {
  const v = (await conn.runAndReadAll(`select strftime(max(created_at), '%Y-%m-%dT%H:%M:%S.%fZ') from lake_sign_ins`)).getRows()[0][0];
  return v === null ? null : String(v);
}

/**
 * What an update re-derives (microseconds), or null for a rebuild. A stored loop ending before `keepBefore`
 * is out of reach of the new sign-ins: it is kept. `keepBefore` is the earliest hour the changed files
 * touch (or the newest sign-in the store judged less pause_secs, so loops still looping are judged again),
 * less a margin of twice every gap that can join sign-ins into one loop; loops ending after it are derived
 * again from the sign-ins from `from` on: that margin before the earliest of them, so each is seen whole.
 */
async function updateWindow(conn: DuckDBConnection, stored: FindingsManifest, changed: readonly string[], params: ParamValues): Promise<{ from: number; keepBefore: number } | null> {
  const secs = (name: string) => Number(params[name] ?? allParams().find((p) => p.name === name)!.default);
  const marginUs = 2 * (secs('pause_secs') + secs('loop_gap_secs') + secs('flow_gap_secs')) * 1e6;
  const hours = changed.map(partitionStartOfFile);
  if (hours.some((h) => h === null)) return null;
  let touched = Math.min(...(hours as number[])) * 1000;
  if (stored.as_of) touched = Math.min(touched, Date.parse(stored.as_of) * 1000 - secs('pause_secs') * 1e6);
  const keepBefore = Math.trunc(touched - marginUs);
  const earliest = (await conn.runAndReadAll(`select epoch_us(min(start)) from stored_loops where "end" >= make_timestamp(${keepBefore}::BIGINT)`)).getRows()[0][0];
  const from = Math.trunc(Math.min(keepBefore, earliest === null ? keepBefore : Number(earliest)) - marginUs);
  const oldest = (await conn.runAndReadAll('select epoch_us(min(created_at)) from lake_sign_ins')).getRows()[0][0];
  return oldest === null || from <= Number(oldest) ? null : { from, keepBefore };
}

/** After the loops of an update's window: the stored loops that end before `keepBeforeUs` join them (judged as of the new data). */
async function keepStoredLoops(conn: DuckDBConnection, keepBeforeUs: number): Promise<void> {
  const at = `make_timestamp(${Math.trunc(keepBeforeUs)}::BIGINT)`;
  await conn.run(`create or replace temp table loops__merged as
    select * replace ((select max(created_at) from lake_sign_ins) as as_of) from stored_loops where "end" < ${at}
    union all by name
    select * from loops where "end" >= ${at}`);
  await conn.run('drop table loops');
  await conn.run('alter table loops__merged rename to loops');
}

/** Detection over the whole lake (or the window params' from/to give); records ids and findings in the lake. */
export async function detect(lakeDir: string, params: ParamValues = {}, db: DuckDBOptions = {}, o: { rebuild?: boolean } = {}): Promise<DetectionResult> {
  return withDuckDB({ memoryLimit: '1GB', ...db }, async (conn) => {
    const { files, torn, signIns, mode, from } = await detectInto(conn, lakeDir, params, { rebuild: o.rebuild });
    const flagged = await resultSet(conn, 'select * from flagged_sessions');
    const clusters = await resultSet(conn, 'select * from loop_clusters');
    return { flagged, clusters, signIns, files, torn, mode, from };
  });
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
