import { DuckDBTimestampValue, TIMESTAMP, type DuckDBConnection } from '@duckdb/node-api';
import { CliError } from '../errors';
import { allParams, attachLake, resultSet, runLayers, validateParams } from '../detect/detect';
import { bindings, coerceParam, loadQuery, type ParamValues } from '../sql/queries';
import { withDuckDB, type DuckDBOptions } from '../sql/duckdb';
import type { FlaggedSession } from '../domain/findings';
import { Pseudonymizer, type SessionLike } from './pseudonymize';
import type { ClusterRow, ErrorCodeRow, HourRow, RemediationRow, ReportData, TopRow, Totals } from './types';

/**
 * The nightly report's data: detection once over the period, then the SQL in queries/report/ over the tables
 * detection materialized (only period_sign_ins and error_code_counts read sign-ins again, each a narrow
 * pass over a few numeric columns). Deterministic: every list is sorted in SQL with a unique tie-breaker, and no wall clock is
 * read, so the same lake and period give the same bytes.
 */
export const REPORT_LAYERS = [
  'report/period_sign_ins',
  'report/totals',
  'report/hourly',
  'report/top',
  'report/error_code_counts',
  'report/flagged_rows',
  'report/remediation',
  'report/cluster_rows',
] as const;
export type ReportLayer = (typeof REPORT_LAYERS)[number];

/** How much of each section the report itself carries; loops.csv and error-codes.csv carry every row. */
export const LIMITS = { worstLoops: 25, bursts: 100, errorCodes: 20 } as const;

export interface ReportOptions {
  /** Start of the period, inclusive: `2026-04-14` or an ISO time (UTC). */
  from: string;
  /** End of the period, exclusive. */
  to: string;
  /** Detection thresholds (`loop_gap_secs`, ...); unknown names are refused. */
  params?: ParamValues;
  /** With a key, people and their identifiers are replaced by keyed tokens (report/pseudonymize.ts). */
  pseudonymizeKey?: Buffer;
  /**
   * The previous period's totals from an earlier report built with the same thresholds. Used when its
   * sign-in count still matches the lake (no late data since), which saves running detection a second time.
   */
  previousTotals?: Totals;
  db?: DuckDBOptions;
}

/** A loops.csv row: a flagged session without its evidence ids (they stay in `detect`'s output). */
export type LoopRow = Omit<FlaggedSession, 'sign_in_ids'>;

export interface ReportBundle {
  data: ReportData;
  /** Every flagged session of the period, in start order. */
  loops: LoopRow[];
  /** Every non-zero error code of the period, most sign-ins first. */
  errorCodes: ErrorCodeRow[];
  /** Where `data.previous` came from: an earlier report (checked against the lake), the lake, or no data. */
  previousSource: 'earlier-report' | 'lake' | 'none';
  files: number;
  torn: string[];
}

export async function buildReportData(lakeDir: string, opts: ReportOptions): Promise<ReportData> {
  return (await collectReport(lakeDir, opts)).data;
}

export interface Period {
  /** Microseconds since the epoch, UTC. */
  fromUs: number;
  toUs: number;
  from: string;
  to: string;
  label: string;
}

const DAY_US = 86_400_000_000;

/** Parses and checks a period; the label names whole UTC days as days ("2026-04-14", "2026-04-14 to 2026-04-16"). */
export function period(from: string, to: string): Period {
  const decl = (name: string) => ({ name, type: 'TIMESTAMP' as const, default: '', doc: '' });
  const fromUs = coerceParam(decl('from'), from) as number;
  const toUs = coerceParam(decl('to'), to) as number;
  if (!(toUs > fromUs)) throw new CliError(`The report period is empty: ${from} is not before ${to}.`, 2);
  return { fromUs, toUs, from: iso(fromUs), to: iso(toUs), label: label(fromUs, toUs) };
}

function iso(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

function label(fromUs: number, toUs: number): string {
  if (fromUs % DAY_US === 0 && toUs % DAY_US === 0) {
    const first = iso(fromUs).slice(0, 10);
    const last = iso(toUs - DAY_US).slice(0, 10);
    return first === last ? first : `${first} to ${last}`;
  }
  const minute = (us: number) => `${iso(us).slice(0, 16)}Z`;
  return `${minute(fromUs)} to ${minute(toUs)}`;
}

/** Every detection threshold with its effective value, in the order the layers declare them. */
export function effectiveThresholds(params: ParamValues): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const p of allParams()) {
    if (p.name === 'from' || p.name === 'to') continue;
    out[p.name] = params[p.name] ?? coerceParam(p, p.default);
  }
  return out;
}

async function runReportLayers(conn: DuckDBConnection, params: ParamValues, upto: ReportLayer): Promise<void> {
  for (const name of REPORT_LAYERS) {
    const q = loadQuery(name);
    const { values, types } = bindings(q, params);
    await conn.run(`create or replace temp table ${q.table} as\n${q.sql}`, values, types);
    if (name === upto) return;
  }
}

const TOTAL_KEYS: ReadonlyArray<keyof Totals> = [
  'sign_ins', 'interactive_sign_ins', 'prompts', 'users_prompted', 'loops', 'looping_users', 'loop_prompts', 'clusters', 'denial_bursts', 'failure_bursts',
];

/** Totals in one key order, whatever object they came from (an earlier report.json may carry more). */
function totalsOf(row: Record<string, unknown>): Totals {
  const out = {} as Totals;
  for (const k of TOTAL_KEYS) {
    const v = Number(row[k] ?? 0);
    if (!Number.isFinite(v)) throw new Error(`totals.${k} is not a number: ${String(row[k])}`);
    out[k] = v;
  }
  return out;
}

async function countSignIns(conn: DuckDBConnection, fromUs: number, toUs: number): Promise<number> {
  // Same window test as the layers (partition pruning first); the lake view, since sign_ins may not exist yet.
  const r = await conn.runAndReadAll(
    `select count(*) from lake_sign_ins where date between cast($f as date) and cast($t as date) and created_at >= $f and created_at < $t`,
    { f: new DuckDBTimestampValue(BigInt(Math.round(fromUs))), t: new DuckDBTimestampValue(BigInt(Math.round(toUs))) },
    { f: TIMESTAMP, t: TIMESTAMP },
  );
  return Number(r.getRows()[0][0]);
}

export async function collectReport(lakeDir: string, opts: ReportOptions): Promise<ReportBundle> {
  const p = period(opts.from, opts.to);
  const thresholds = validateParams(opts.params ?? {});
  if ('from' in thresholds || 'to' in thresholds) throw new CliError('Give the report period as from/to options (--date, --since/--until), not as thresholds.', 2);
  const pseudo = opts.pseudonymizeKey ? new Pseudonymizer(opts.pseudonymizeKey) : null;
  return withDuckDB({ memoryLimit: '1GB', ...opts.db }, async (conn) => {
    const { files, torn } = await attachLake(conn, lakeDir);

    // The previous period (same length, just before): an earlier report's totals when the lake still holds
    // the same sign-ins for it, else detection over it (only the totals are kept).
    const prevFromUs = p.fromUs - (p.toUs - p.fromUs);
    const prevSignIns = await countSignIns(conn, prevFromUs, p.fromUs);
    let previous: Totals | null = null;
    let previousSource: ReportBundle['previousSource'] = 'none';
    if (prevSignIns > 0 && opts.previousTotals && Number(opts.previousTotals.sign_ins) === prevSignIns) {
      previous = totalsOf(opts.previousTotals as unknown as Record<string, unknown>);
      previousSource = 'earlier-report';
    } else if (prevSignIns > 0) {
      const prevParams = { ...thresholds, from: prevFromUs, to: p.fromUs };
      await runLayers(conn, prevParams);
      await runReportLayers(conn, prevParams, 'report/totals');
      previous = totalsOf((await resultSet(conn, 'select * from totals')).rows[0]);
      previousSource = 'lake';
    }

    const params = { ...thresholds, from: p.fromUs, to: p.toUs };
    await runLayers(conn, params);
    await runReportLayers(conn, params, REPORT_LAYERS[REPORT_LAYERS.length - 1]);

    const totalsRow = (await resultSet(conn, 'select * from totals')).rows[0];
    const hourly = (await resultSet(conn, 'select * from hourly')).rows as unknown as HourRow[];
    const top = (await resultSet(conn, 'select * from top')).rows as unknown as Array<TopRow & { dimension: string }>;
    const errorCodes = (await resultSet(conn, 'select * from error_code_counts')).rows as unknown as ErrorCodeRow[];
    const sections = (await resultSet(
      conn,
      `select f.* from flagged_sessions as f join flagged_rows as r using (loop_id)
       where r.section_rank <= case r.kind when 'reauth_loop' then ${LIMITS.worstLoops} else ${LIMITS.bursts} end
       order by r.kind, r.section_rank`,
    )).rows as unknown as FlaggedSession[];
    const loops = (await resultSet(conn, 'select * exclude (sign_in_ids) from flagged_sessions order by start, loop_id')).rows as unknown as LoopRow[];
    const clusters = (await resultSet(conn, 'select * from cluster_rows')).rows as unknown as ClusterRow[];
    const remediation = (await resultSet(conn, 'select * from remediation')).rows as unknown as RemediationRow[];

    const topOf = (dimension: string): TopRow[] =>
      top.filter((t) => t.dimension === dimension).map((t) => ({ name: t.name, loops: t.loops, users: t.users, prompts: t.prompts }));
    let data: ReportData = {
      schema: 'reauth-loops.report/1',
      period: { from: p.from, to: p.to, label: p.label },
      data_through: (totalsRow.data_through as string | null) ?? null,
      pseudonymized: false,
      thresholds: effectiveThresholds(thresholds),
      totals: totalsOf(totalsRow),
      previous,
      hourly,
      clusters,
      top: { apps: topOf('app'), os: topOf('os'), clients: topOf('client'), error_codes: errorCodes.slice(0, LIMITS.errorCodes) },
      worst_loops: sections.filter((f) => f.kind === 'reauth_loop'),
      denial_bursts: sections.filter((f) => f.kind === 'mfa_denial_burst'),
      failure_bursts: sections.filter((f) => f.kind === 'failure_burst'),
      remediation,
    };
    let loopRows = loops;
    if (pseudo) {
      data = pseudo.report(data);
      loopRows = loops.map((l) => pseudo.session(l as SessionLike) as LoopRow);
    }
    return { data, loops: loopRows, errorCodes, previousSource, files, torn };
  });
}
