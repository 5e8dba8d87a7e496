import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { DOUBLE, INTEGER, TIMESTAMP, VARCHAR, DuckDBTimestampValue, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { CliError } from '../errors';
import { parseTimestamp } from '../normalize/time';

/**
 * The only reader of queries/. Each .sql file is one query, named by its path (`detect/loops`); the runner
 * materializes it as a temp table named by its file name (`loops`), so later layers and analysts read it.
 * Thresholds are declared in a file's header, never in TypeScript:
 *     -- @param loop_gap_secs INTEGER = 299 : why this default
 * and bound as `$loop_gap_secs`. Each threshold is declared once, in the file whose definition it belongs
 * to; any other file may use it (the report reads the loop gap from detect/episodes.sql). The loader refuses a
 * second declaration anywhere in queries/, a use nothing declares, and a declaration nothing uses.
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
  /** Thresholds this file uses, wherever they are declared. */
  params: ParamDecl[];
  /** Thresholds this file declares (its own header). */
  declares: ParamDecl[];
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
const registries = new Map<string, Map<string, ParamDecl & { path: string }>>();

/** Every .sql file under root, as query names ('detect/loops'). */
export function queryNames(root = queriesDir()): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.sql')) continue;
    const dir = relative(root, e.parentPath ?? (e as unknown as { path: string }).path);
    out.push([...(dir ? dir.split(sep) : []), e.name.slice(0, -4)].join('/'));
  }
  return out.sort();
}

function declarationsIn(text: string): ParamDecl[] {
  const params: ParamDecl[] = [];
  for (const line of text.split('\n')) {
    const m = PARAM_LINE.exec(line.trim());
    if (m) params.push({ name: m[1], type: m[2] as ParamType, default: m[3], doc: m[4] });
  }
  return params;
}

/** Every threshold declared anywhere in queries/, each exactly once. */
export function paramRegistry(root = queriesDir()): Map<string, ParamDecl & { path: string }> {
  const hit = registries.get(root);
  if (hit) return hit;
  const reg = new Map<string, ParamDecl & { path: string }>();
  const usedAnywhere = new Set<string>();
  for (const name of queryNames(root)) {
    const path = join(root, `${name}.sql`);
    const text = readFileSync(path, 'utf8');
    for (const m of stripComments(text).matchAll(/\$([a-z_][a-z0-9_]*)/g)) usedAnywhere.add(m[1]);
    for (const d of declarationsIn(text)) {
      const first = reg.get(d.name);
      if (first) throw new Error(`${path}: @param ${d.name} is already declared in ${first.path}; declare each threshold once and use $${d.name} here`);
      reg.set(d.name, { ...d, path });
    }
  }
  for (const [name, d] of reg) if (!usedAnywhere.has(name)) throw new Error(`${d.path}: @param ${name} is declared but never used`);
  registries.set(root, reg);
  return reg;
}

export function loadQuery(name: string, root = queriesDir()): QueryFile {
  const path = join(root, `${name}.sql`);
  const hit = cache.get(path);
  if (hit) return hit;
  const text = readFileSync(path, 'utf8');
  const reg = paramRegistry(root);
  const declares = declarationsIn(text);
  const used = [...new Set([...stripComments(text).matchAll(/\$([a-z_][a-z0-9_]*)/g)].map((m) => m[1]))];
  const params: ParamDecl[] = [];
  for (const u of used) {
    const d = reg.get(u);
    if (!d) throw new Error(`${path}: $${u} is used but declared nowhere; add "-- @param ${u} TYPE = default : reason" to the file whose definition it belongs to`);
    params.push({ name: d.name, type: d.type, default: d.default, doc: d.doc });
  }
  const view = /^--\s*@view\s*$/m.test(text);
  if (view && params.length) throw new Error(`${path}: a @view cannot take parameters (DuckDB views cannot bind them)`);
  const q: QueryFile = { name, table: name.split('/').pop() as string, view, path, sql: text, params, declares };
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
