import type { DuckDBConnection } from '@duckdb/node-api';
import { attachLake, resultSet } from '../../pipeline/detect/detect';
import { SIGN_IN_COLUMNS } from '../../pipeline/normalize/columns';
import { quoteString, withDuckDB } from '../../pipeline/sql/duckdb';
import { BASE } from '../../pipeline/simulate/timeline';
import { tempDir } from './tmp';

/**
 * Given/expect SQL tests on small tables, without import: `signIns` writes rows straight into the table the
 * staging view reads (`lake_sign_ins`), `table` creates any later layer's input by hand, and the test runs
 * the one layer it is about with `runLayer`.
 */
export interface Row {
  at: number; // seconds after BASE
  user?: string;
  app?: string;
  device?: string;
  os?: string;
  code?: number;
  interactive?: boolean;
  /** auth_methods as landed; default: a password for an interactive success, nothing otherwise. */
  methods?: string | null;
  corr?: string;
}

let ids = 0;

export async function withLayers<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const tmp = tempDir();
  try {
    return await withDuckDB({ memoryLimit: '512MB' }, async (conn) => {
      // An empty lake gives an empty, writable lake_sign_ins with every landed column and the error codes.
      await attachLake(conn, tmp.sub('empty-lake'));
      return fn(conn);
    });
  } finally {
    tmp.cleanup();
  }
}

export async function signIns(conn: DuckDBConnection, rows: Row[]): Promise<void> {
  const key = (name: string) => SIGN_IN_COLUMNS.find((c) => c.name === name)!.sql as string;
  for (const r of rows) {
    const user = r.user ?? 'ana';
    const interactive = r.interactive ?? true;
    const code = r.code ?? 0;
    const methods = r.methods === undefined ? (interactive && code === 0 ? 'Password' : null) : r.methods;
    const id = `id-${++ids}`;
    const at = new Date(BASE + r.at * 1000).toISOString();
    const v = (x: string | null) => (x === null ? 'null' : quoteString(x));
    await conn.run(`insert into empty_lake by name select *, ${key('session_key')} as session_key, ${key('user_app_key')} as user_app_key from (select
      ${v(id)} as sign_in_id, 'tenant-1' as tenant_id, timestamp ${v(at)} as created_at, cast(timestamp ${v(at)} as date) as date,
      'user' as principal_kind, ${v(`user-${user}`)} as user_id, ${v(`${user}@contoso.example`)} as user_principal_name, ${v(user)} as user_display_name,
      ${v(`app-${r.app ?? 'outlook'}`)} as app_id, ${v(r.app ?? 'Outlook Mobile')} as app_display_name,
      ${v(r.device ?? `dev-${user}`)} as device_id, ${v(r.os ?? 'Ios')} as device_os, 'Mobile Apps and Desktop clients' as client_app_used,
      ${code} as error_code, ${interactive} as is_interactive, ${v(r.corr ?? id)} as correlation_id, ${v(methods)} as auth_methods,
      '203.0.113.7' as ip_address)`);
  }
}

/** A table (or a layer's input) given by hand: `select` is one SELECT per row, unioned. */
export async function table(conn: DuckDBConnection, name: string, selects: string[]): Promise<void> {
  await conn.run(`create or replace temp table ${name} as ${selects.join('\nunion all by name\n')}`);
}

export async function rows(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await resultSet(conn, sql)).rows;
}

/** `count` MFA prompts (50074 then success 5 s later, one correlation id), `every` seconds apart. */
export function prompts(count: number, every: number, start = 0, r: Omit<Row, 'at' | 'code' | 'corr'> = {}): Row[] {
  return Array.from({ length: count }, (_, i) => {
    const at = start + i * every;
    const corr = `c-${r.user ?? 'ana'}-${r.app ?? ''}-${at}`;
    return [
      { ...r, at, code: 50074, corr, methods: 'Password' },
      { ...r, at: at + 5, code: 0, corr, methods: 'Password, Mobile app notification' },
    ];
  }).flat();
}

/** `count` interactive silent-SSO successes ("Previously satisfied"), `every` seconds apart. */
export function silent(count: number, every: number, start = 0, r: Omit<Row, 'at' | 'code' | 'methods'> = {}): Row[] {
  return Array.from({ length: count }, (_, i) => ({ ...r, at: start + i * every, code: 0, methods: 'Previously satisfied' }));
}
