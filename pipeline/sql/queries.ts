import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DOUBLE, INTEGER, TIMESTAMP, VARCHAR, DuckDBTimestampValue, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { CliError } from '../errors';
import { parseTimestamp } from '../normalize/time';

/**
 * The only reader of queries/. Each .sql file is one query, named by its path (`detect/loops`); the runner
 * materializes it as a temp table named by its file name (`loops`), so later layers and analysts read it.
 * Thresholds are declared in the file's header, never in TypeScript:
 *     -- @param loop_gap_secs INTEGER = 120 : why this default
 * and bound as `$loop_gap_secs`. Declarations and uses are checked against each other at load time.
 */
export type ParamType = 'INTEGER' | 'DOUBLE' | 'TIMESTAMP' | 'VARCHAR';
export interface ParamDecl {
  name: string;
  type: ParamType;
  default: string;
  doc: string;
}
export interface QueryFile {
  name: string;
  table: string;
  /** `-- @view`: created as a view (read lazily, columns pushed down) instead of a materialized table. */
  view: boolean;
  path: string;
  sql: string;
  params: ParamDecl[];
}
export type ParamValues = Record<string, string | number>;

const PARAM_LINE = /^--\s*@param\s+([a-z_][a-z0-9_]*)\s+(INTEGER|DOUBLE|TIMESTAMP|VARCHAR)\s*=\s*(.*?)\s+:\s+(.+)$/;

let queriesRoot: string | null = null;
export function queriesDir(): string {
  if (queriesRoot) return queriesRoot;
  // Works from pipeline/sql (ts-jest) and dist/pipeline/sql (built CLI) alike.
  for (let d = __dirname; d !== dirname(d); d = dirname(d)) {
    if (existsSync(join(d, 'queries', 'staging'))) return (queriesRoot = join(d, 'queries'));
  }
  throw new Error(`queries/ not found above ${__dirname}`);
}

const cache = new Map<string, QueryFile>();
export function loadQuery(name: string, root = queriesDir()): QueryFile {
  const path = join(root, `${name}.sql`);
  const hit = cache.get(path);
  if (hit) return hit;
  const text = readFileSync(path, 'utf8');
  const params: ParamDecl[] = [];
  for (const line of text.split('\n')) {
    const m = PARAM_LINE.exec(line.trim());
    if (m) params.push({ name: m[1], type: m[2] as ParamType, default: m[3], doc: m[4] });
  }
  const used = new Set([...stripComments(text).matchAll(/\$([a-z_][a-z0-9_]*)/g)].map((m) => m[1]));
  const declared = new Set(params.map((p) => p.name));
  for (const u of used) if (!declared.has(u)) throw new Error(`${path}: $${u} is used but has no "-- @param ${u} TYPE = default : reason" line`);
  for (const d of declared) if (!used.has(d)) throw new Error(`${path}: @param ${d} is declared but never used`);
  const view = /^--\s*@view\s*$/m.test(text);
  if (view && params.length) throw new Error(`${path}: a @view cannot take parameters (DuckDB views cannot bind them)`);
  const q: QueryFile = { name, table: name.split('/').pop() as string, view, path, sql: text, params };
  cache.set(path, q);
  return q;
}

export function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, '').replace(/'(?:[^']|'')*'/g, "''");
}

/** Coerce a user-supplied value (CLI, config) to the declared type, with an error that says what to pass. */
export function coerceParam(decl: ParamDecl, value: string | number): string | number {
  const v = String(value).trim();
  switch (decl.type) {
    case 'INTEGER': {
      if (!/^-?\d+$/.test(v)) throw new CliError(`--${decl.name.replace(/_/g, "-")} must be a whole number (got ${JSON.stringify(v)}).`, 2);
      return Number(v);
    }
    case 'DOUBLE': {
      const n = Number(v);
      if (v === '' || !Number.isFinite(n)) throw new CliError(`--${decl.name.replace(/_/g, "-")} must be a number (got ${JSON.stringify(v)}).`, 2);
      return n;
    }
    case 'TIMESTAMP': {
      const us = parseTimestamp(v.length === 10 ? `${v}T00:00:00Z` : v);
      if (us === null) throw new CliError(`--${decl.name.replace(/_/g, "-")} must be a time such as 2026-04-14 or 2026-04-14T09:30:00Z (got ${JSON.stringify(v)}).`, 2);
      return us;
    }
    default:
      return v;
  }
}

/** Bind values for the params a query declares: the given value, else its documented default. */
export function bindings(q: QueryFile, given: ParamValues): { values: Record<string, DuckDBValue>; types: Record<string, DuckDBType> } {
  const values: Record<string, DuckDBValue> = {};
  const types: Record<string, DuckDBType> = {};
  for (const p of q.params) {
    const raw = given[p.name] ?? coerceParam(p, p.default);
    const v = typeof raw === 'string' && p.type !== 'VARCHAR' ? coerceParam(p, raw) : raw;
    if (p.type === 'TIMESTAMP') {
      values[p.name] = new DuckDBTimestampValue(BigInt(Math.round(v as number)));
      types[p.name] = TIMESTAMP;
    } else {
      values[p.name] = v as number | string;
      types[p.name] = p.type === 'INTEGER' ? INTEGER : p.type === 'DOUBLE' ? DOUBLE : VARCHAR;
    }
  }
  return { values, types };
}
