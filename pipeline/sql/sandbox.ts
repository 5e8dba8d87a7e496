import { join, resolve, sep } from 'node:path';
import { StatementType, VARCHAR, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { CliError } from '../errors';
import { attachLake, readResultTable, runLayers, type Layer, type ResultSet } from '../detect/detect';
import { openDuckDB, quoteString, stringList } from './duckdb';
import type { ParamValues } from './queries';

/**
 * A DuckDB for SQL an analyst typed ("SQL is executable code": duckdb.org/security; design/reliability.md item 9).
 * Three layers, each enough for some attacks and none trusted alone:
 *   1. DuckDB's own lockdown: only `<lake>/sign_ins/` is readable, no extensions, resources bounded, settings locked.
 *   2. A statement gate on DuckDB's parse tree: one query (SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE),
 *      and only harmless table functions. Load-bearing, not decoration: a locked DuckDB still runs
 *      `COPY … TO '<lake>/sign_ins/x'` (allowed_directories admits writes), CREATE/INSERT in memory,
 *      `SELECT * FROM enable_profiling()` (prints to our stdout) and `enable_logging(storage='file', …)` (breaks the
 *      connection for every later query).
 *   3. A deadline: the query is interrupted after `timeoutMs`.
 */

export interface SandboxOptions {
  /** DuckDB memory_limit, e.g. '1GB' (the `--memory-limit` option). */
  memoryLimit?: string;
  /** Each query is interrupted after this many milliseconds. */
  timeoutMs?: number;
  threads?: number;
  /** Spill to DuckDB's temp directory is capped at this many GB. */
  maxTempGb?: number;
  /** Detection thresholds the views are built with. */
  thresholds?: ParamValues;
  /** Build the views only this deep: a query on sign_ins alone should not pay for detection. Default: all. */
  upto?: Layer;
}

export interface Sandbox {
  /** Runs one read-only query; `params` are bound as `$name` (VARCHAR), never pasted. */
  run(sql: string, params?: Record<string, string>): Promise<ResultSet>;
  close(): void;
  /** The SET statements applied after the views were built, in order. */
  readonly lockdown: readonly string[];
  /** The one folder the analyst's SQL may read (with a trailing separator). */
  readonly readable: string;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MEMORY_LIMIT = '1GB';
export const DEFAULT_MAX_TEMP_GB = 4;
const DEFAULT_THREADS = 2;

const VIEWS = 'sign_ins, prompts, loops, clusters, flagged_sessions, loop_clusters, error_codes, lake_sign_ins';
const ALLOWED_KINDS = 'SELECT, WITH … SELECT, FROM …, VALUES, DESCRIBE, SHOW or SUMMARIZE';

/**
 * Table functions the analyst may call. An allow-list, because a SELECT can call table functions that change the
 * session despite lock_configuration (enable_profiling, enable_logging, checkpoint) or run SQL text we never
 * checked (query, query_table). File readers other than read_parquet are left out: the lake is Parquet.
 */
const TABLE_FUNCTIONS = new Set([
  'range', 'generate_series', 'unnest',
  'read_parquet', 'parquet_scan', 'parquet_metadata', 'parquet_schema',
  'duckdb_tables', 'duckdb_views', 'duckdb_columns', 'duckdb_types',
]);
/**
 * Scalar calls refused by name: write_log has a side effect; the rest are table functions or CLI-only functions
 * DuckDB would reject anyway, refused here so the analyst gets the sandbox's reason instead of a binder error.
 */
const SCALAR_DENY = new Set([
  'write_log', 'getenv',
  'read_csv', 'read_csv_auto', 'read_text', 'read_blob', 'read_json', 'read_json_auto', 'read_json_objects', 'read_ndjson', 'read_ndjson_auto',
  'glob', 'sniff_csv', 'query', 'query_table', 'enable_profiling', 'enable_logging',
]);

const RESULT_TABLE = '__sandbox_result';
const QUERY_WORDS = new Set(['SELECT', 'WITH', 'FROM', 'VALUES', 'DESCRIBE', 'SHOW', 'SUMMARIZE', 'TABLE']);

function refused(why: string, readable: string): CliError {
  return new CliError(
    `Refused: ${why}. \`query\` runs one read-only query (${ALLOWED_KINDS}) over the views ${VIEWS}, ` +
      `or read_parquet on files under ${readable}; it cannot read other files, write (COPY, EXPORT, CREATE, INSERT), ` +
      'attach databases, install or load extensions, or change settings (SET, RESET, PRAGMA).',
    2,
  );
}

export async function openSandbox(lakeDir: string, opts: SandboxOptions = {}): Promise<Sandbox> {
  const root = resolve(lakeDir);
  // Trailing separator: DuckDB matches by prefix, and `<lake>/sign_ins_old/` must not match.
  const readable = join(root, 'sign_ins') + sep;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const memoryLimit = opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
  const threads = opts.threads ?? DEFAULT_THREADS;
  const maxTempGb = opts.maxTempGb ?? DEFAULT_MAX_TEMP_GB;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new CliError(`--timeout-seconds must be a positive number (got ${timeoutMs / 1000}).`, 2);
  if (!(maxTempGb > 0) || !Number.isFinite(maxTempGb)) throw new CliError(`--max-temp-gb must be a positive number (got ${maxTempGb}).`, 2);
  if (!Number.isInteger(threads) || threads < 1) throw new CliError(`threads must be a whole number of at least 1 (got ${threads}).`, 2);

  const lockdown = [
    // First: DuckDB refuses to change allowed_directories once external access is off. Not through the
    // instance config either (duckdb/duckdb#21369: "Failed to set config" on this version).
    `SET allowed_directories = ${stringList([readable])}`,
    'SET enable_external_access = false',
    'SET autoinstall_known_extensions = false',
    'SET autoload_known_extensions = false',
    'SET allow_community_extensions = false',
    `SET threads = ${threads}`,
    `SET memory_limit = ${quoteString(memoryLimit)}`,
    `SET max_temp_directory_size = ${quoteString(`${maxTempGb}GB`)}`,
    // Last: from here on no setting above can be changed or RESET.
    'SET lock_configuration = true',
  ];

  const db = await openDuckDB({ threads });
  const conn = db.conn;
  try {
    // The user's limit bounds building the views too, and a bad value fails here with DuckDB's reason.
    try {
      await conn.run(`SET memory_limit = ${quoteString(memoryLimit)}`);
    } catch (e) {
      throw new CliError(`--memory-limit ${JSON.stringify(memoryLimit)} is not a size DuckDB accepts (${firstLine(e)}); use e.g. 1GB or 512MB.`, 2);
    }
    // Our own SQL runs before the lockdown: attachLake reads the error-code CSV in queries/, outside the lake.
    await attachLake(conn, root);
    await runLayers(conn, opts.thresholds ?? {}, opts.upto);
    for (const s of lockdown) await conn.run(s);
    await assertLocked(conn, readable);
  } catch (e) {
    db.close();
    throw e;
  }

  let busy = false;
  return {
    lockdown,
    readable,
    close: db.close,
    async run(sql, params = {}) {
      if (busy) throw new Error('the sandbox runs one query at a time');
      busy = true;
      let timedOut = false;
      let nag: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        conn.interrupt();
        // An interrupt that lands between two statements is dropped by DuckDB: repeat until run() returns.
        nag = setInterval(() => conn.interrupt(), 100);
      }, timeoutMs);
      try {
        await checkQuery(conn, sql, readable);
        await materialize(conn, sql, params, readable);
        return await readResultTable(conn, RESULT_TABLE);
      } catch (e) {
        if (timedOut) {
          throw new CliError(
            `Stopped: the query ran past the ${timeoutMs / 1000}-second limit and was interrupted. ` +
              'Narrow it (a where on date or user, fewer joins) or allow more time with --timeout-seconds.',
            2,
          );
        }
        throw explain(e, readable, memoryLimit, maxTempGb);
      } finally {
        clearTimeout(timer);
        clearInterval(nag);
        await conn.run(`drop table if exists ${RESULT_TABLE}`).catch(() => undefined);
        busy = false;
      }
    },
  };
}

/** Refuses the lockdown silently not holding: this DuckDB would otherwise run analyst SQL wide open. */
async function assertLocked(conn: DuckDBConnection, readable: string): Promise<void> {
  const r = await conn.runAndReadAll(
    "select current_setting('enable_external_access')::VARCHAR, current_setting('lock_configuration')::VARCHAR, current_setting('allowed_directories')::VARCHAR",
  );
  const [external, locked, dirs] = r.getRows()[0].map(String);
  if (external !== 'false' || locked !== 'true' || !dirs.includes(readable)) {
    throw new Error(`DuckDB lockdown did not hold (enable_external_access=${external}, lock_configuration=${locked}, allowed_directories=${dirs})`);
  }
}

interface SerializedSql {
  error: boolean;
  error_type?: string;
  error_message?: string;
  statements?: unknown[];
}

/**
 * The statement gate, on DuckDB's own parse tree. json_serialize_sql only parses (unlike extractStatements,
 * which already runs PRAGMAs such as import_database) and serializes nothing but SELECT statements.
 */
async function checkQuery(conn: DuckDBConnection, sql: string, readable: string): Promise<void> {
  if (!sql.trim()) throw new CliError('Give the SQL as an argument or with --file.', 2);
  // The native API reads C strings: text after a NUL would be seen by no check.
  if (sql.includes('\0')) throw refused('the SQL contains a NUL character', readable);
  // json_serialize_sql wants a constant, so the text is quoted here (quoteString doubles quotes; DuckDB has no backslash escapes).
  const r = await conn.runAndReadAll(`select json_serialize_sql(${quoteString(sql)})`);
  const tree = JSON.parse(String(r.getRows()[0][0])) as SerializedSql;
  if (tree.error) {
    if (tree.error_type === 'parser') throw new CliError(`Your SQL failed: Parser Error: ${tree.error_message}`, 2);
    // The serializer fails the whole text when any statement in it is not a SELECT.
    const kw = firstKeyword(sql);
    if (!kw || QUERY_WORDS.has(kw)) throw refused('the SQL holds a statement that is not a read-only query, or more than one statement', readable);
    throw refused(`${kw} is not a read-only query`, readable);
  }
  const statements = tree.statements ?? [];
  if (statements.length === 0) throw new CliError('The SQL has no statement in it (only comments?): give one SELECT.', 2);
  if (statements.length > 1) throw refused(`found ${statements.length} statements; run one at a time (remove the extra ';')`, readable);
  const tables = new Set<string>();
  const scalars = new Set<string>();
  functionsIn(statements[0], tables, scalars);
  for (const f of tables) {
    if (!TABLE_FUNCTIONS.has(f)) throw refused(`${f}() is not allowed (table functions allowed: ${[...TABLE_FUNCTIONS].join(', ')})`, readable);
  }
  for (const f of scalars) if (SCALAR_DENY.has(f)) throw refused(`${f}() is not allowed`, readable);
}

/** Every table function and scalar function the tree calls, wherever it hides (CTE, subquery, lambda, join). */
function functionsIn(node: unknown, tables: Set<string>, scalars: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) functionsIn(n, tables, scalars);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  const fn = o.function as { function_name?: unknown } | undefined;
  if (o.type === 'TABLE_FUNCTION' && typeof fn?.function_name === 'string') tables.add(fn.function_name.toLowerCase());
  if (o.class === 'FUNCTION' && typeof o.function_name === 'string') scalars.add(o.function_name.toLowerCase());
  for (const v of Object.values(o)) functionsIn(v, tables, scalars);
}

/**
 * Runs the checked query into a temp table, as one prepared statement. Never conn.run(sql, values): the
 * node-api runs every statement but the last of a multi-statement string before it binds the last one.
 */
async function materialize(conn: DuckDBConnection, sql: string, params: Record<string, string>, readable: string): Promise<void> {
  // A subquery takes every form the gate admits (DESCRIBE and SHOW cannot follow CREATE … AS directly).
  // Newlines, so a trailing -- comment cannot swallow the closing parenthesis.
  const body = sql.trim().replace(/[\s;]+$/, '');
  const ctas = `create or replace temp table ${RESULT_TABLE} as select * from (\n${body}\n)`;
  let extracted;
  try {
    extracted = await conn.extractStatements(ctas);
  } catch (e) {
    throw new CliError(`Your SQL failed: ${firstLine(e).replace(/^Failed to extract statements: /, '')} (if it ends with ';' and then a comment, remove the comment).`, 2);
  }
  if (extracted.count !== 1) throw refused('the SQL did not stay one statement', readable);
  const prepared = await extracted.prepare(0);
  try {
    if (prepared.statementType !== StatementType.CREATE) throw refused('the SQL did not stay one query', readable);
    const { values, types } = bindParams(prepared, params);
    prepared.bind(values, types);
    await prepared.run();
  } finally {
    prepared.destroySync();
  }
}

interface Bindable {
  parameterCount: number;
  parameterName(index: number): string;
}

/** Every `$name` the SQL uses must be given, and every --param used: a typo should fail, not match nothing. */
function bindParams(prepared: Bindable, params: Record<string, string>): { values: Record<string, DuckDBValue>; types: Record<string, DuckDBType> } {
  const used: string[] = [];
  for (let i = 1; i <= prepared.parameterCount; i++) used.push(prepared.parameterName(i));
  const positional = used.find((n) => /^\d+$/.test(n));
  if (positional) throw new CliError(`The SQL uses a positional parameter (? or $${positional}): name it, e.g. $upn, and pass --param upn=VALUE.`, 2);
  const missing = used.filter((n) => !(n in params));
  if (missing.length) throw new CliError(`The SQL uses ${missing.map((n) => `$${n}`).join(', ')}: pass ${missing.map((n) => `--param ${n}=VALUE`).join(' ')}.`, 2);
  const unused = Object.keys(params).filter((n) => !used.includes(n));
  if (unused.length) {
    throw new CliError(`--param ${unused.join(', ')} ${unused.length > 1 ? 'are' : 'is'} not used by the SQL (it uses ${used.length ? used.map((n) => `$${n}`).join(', ') : 'no parameters'}).`, 2);
  }
  const values: Record<string, DuckDBValue> = {};
  const types: Record<string, DuckDBType> = {};
  for (const n of used) {
    values[n] = params[n];
    types[n] = VARCHAR;
  }
  return { values, types };
}

/** DuckDB's error, said in terms of what the analyst can do about it. */
function explain(e: unknown, readable: string, memoryLimit: string, maxTempGb: number): Error {
  if (e instanceof CliError) return e;
  const msg = firstLine(e);
  if (/Permission Error/i.test(msg)) return refused(`it tries to reach something outside the lake (${msg})`, readable);
  if (/Out of Memory Error/i.test(msg)) {
    return new CliError(
      `The query needed more than the ${memoryLimit} memory limit and ${maxTempGb} GB of spill (${msg}). Narrow it, or raise --memory-limit or --max-temp-gb.`,
      2,
    );
  }
  return new CliError(`Your SQL failed: ${msg}`, 2);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/** For the refusal message only (the decision is the parser's): the statement's first word, past comments. */
function firstKeyword(sql: string): string {
  let s = sql;
  for (;;) {
    const t = s.replace(/^[\s(]+/, '');
    if (t.startsWith('--')) {
      const nl = t.indexOf('\n');
      s = nl < 0 ? '' : t.slice(nl + 1);
    } else if (t.startsWith('/*')) {
      const end = t.indexOf('*/');
      s = end < 0 ? '' : t.slice(end + 2);
    } else {
      s = t;
      break;
    }
  }
  return (/^[a-z_]+/i.exec(s)?.[0] ?? '').toUpperCase();
}
