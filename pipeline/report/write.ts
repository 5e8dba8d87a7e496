import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CliError } from '../errors';
import { atomicWrite, Lake, partitionKeyOfDir } from '../lake/lake';
import { formatRows, type Column, type ColumnKind } from '../cli/output';
import type { DuckDBOptions } from '../sql/duckdb';
import type { ParamValues } from '../sql/queries';
import { collectReport, effectiveThresholds, period, type LoopRow, type ReportBundle } from './data';
import { renderMarkdown } from './markdown';
import { readKeyFile } from './pseudonymize';
import type { ErrorCodeRow, ReportData, Totals } from './types';

export interface WriteReportOptions {
  /** One UTC day, YYYY-MM-DD. Or: */
  date?: string;
  /** since (inclusive) and until (exclusive), both UTC: `2026-04-14`, `2026-04-14T09:00:00Z`. */
  since?: string;
  until?: string;
  /** Folder to write into; default `reports/<label>/` under the working folder. */
  out?: string;
  params?: ParamValues;
  pseudonymizeKeyFile?: string;
  /**
   * Renders report.html. Left out: the project's renderer (report/html.ts), so `nightly` and `report` write
   * the same files. null: no report.html (a stale one from an earlier run is removed, so the folder never
   * holds an HTML page that disagrees with report.json).
   */
  html?: ((data: ReportData) => Promise<string>) | null;
  db?: DuckDBOptions;
}

export interface WrittenReport {
  dir: string;
  /** File names written, in the order written (report.json last: its presence means the rest is there). */
  files: string[];
  data: ReportData;
  previousSource: ReportBundle['previousSource'];
  torn: string[];
}

const DAY_MS = 86_400_000;

/** The period from --date or --since/--until, as from/to strings for buildReportData. */
export function reportPeriod(o: { date?: string; since?: string; until?: string }): { from: string; to: string } {
  if (o.date !== undefined) {
    if (o.since !== undefined || o.until !== undefined) throw new CliError('Give either --date or --since/--until, not both.', 2);
    const t = Date.parse(`${o.date}T00:00:00Z`);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(o.date) || !Number.isFinite(t) || new Date(t).toISOString().slice(0, 10) !== o.date) {
      throw new CliError(`--date wants a UTC day as YYYY-MM-DD, e.g. 2026-04-14 (got ${JSON.stringify(o.date)}).`, 2);
    }
    return { from: o.date, to: new Date(t + DAY_MS).toISOString().slice(0, 10) };
  }
  if (o.since === undefined || o.until === undefined) throw new CliError('Name the period: --date 2026-04-14, or --since 2026-04-14 --until 2026-04-16 (until is exclusive).', 2);
  return { from: o.since, to: o.until };
}

/** A folder name for a period label: "2026-04-14", "2026-04-14_to_2026-04-16", "2026-04-14T0900Z_to_2026-04-14T1700Z". */
export function reportSlug(label: string): string {
  return label.replace(/ to /g, '_to_').replace(/:/g, '').replace(/[^0-9A-Za-z_-]/g, '-');
}

type Spec = Array<[string, ColumnKind]>;
const cols = (spec: Spec): Column[] => spec.map(([name, kind]) => ({ name, kind }));

const CLUSTER_COLUMNS = cols([
  ['cluster_id', 'string'], ['start', 'timestamp'], ['core_end', 'timestamp'], ['end', 'timestamp'], ['peak_at', 'timestamp'],
  ['peak_users', 'integer'], ['user_count', 'integer'], ['loop_count', 'integer'], ['prompt_count', 'integer'],
  ['stragglers_still_looping', 'integer'], ['stragglers_stopped', 'integer'], ['tenant_id', 'string'], ['app_id', 'string'],
  ['app_display_name', 'string'], ['device_os', 'string'], ['os_family', 'string'], ['client_app_used', 'string'],
  ['error_codes', 'integer[]'], ['users_still_looping', 'string[]'], ['loop_ids', 'string[]'],
]);

const LOOP_COLUMNS = cols([
  ['loop_id', 'string'], ['kind', 'string'], ['severity', 'string'], ['start', 'timestamp'], ['end', 'timestamp'], ['duration_seconds', 'double'],
  ['user_id', 'string'], ['user_principal_name', 'string'], ['user_display_name', 'string'], ['app_display_name', 'string'], ['app_id', 'string'],
  ['device_os', 'string'], ['device_id', 'string'], ['client_app_used', 'string'], ['prompt_count', 'integer'], ['success_count', 'integer'],
  ['interrupt_count', 'integer'], ['failure_count', 'integer'], ['denial_count', 'integer'], ['reauth_signal_count', 'integer'],
  ['loop_signal_count', 'integer'], ['error_codes', 'integer[]'], ['median_gap_seconds', 'double'], ['median_reprompt_seconds', 'double'],
  ['ip_addresses', 'string[]'], ['cluster_id', 'string'], ['tenant_id', 'string'], ['reason', 'string'],
]);

/** user_id first: `Import-Csv remediation.csv | ... Revoke-MgUserSignInSession -UserId $_.user_id`. */
const REMEDIATION_COLUMNS = cols([
  ['user_id', 'string'], ['user_principal_name', 'string'], ['cluster_id', 'string'], ['stopped', 'boolean'], ['status', 'string'], ['straggler', 'boolean'],
  ['loops', 'integer'], ['prompts', 'integer'], ['prompts_after_core_end', 'integer'], ['first_prompt', 'timestamp'], ['last_prompt', 'timestamp'],
  ['app_display_name', 'string'], ['device_os', 'string'],
]);

const ERROR_CODE_COLUMNS = cols([['code', 'integer'], ['outcome', 'string'], ['meaning', 'string'], ['sign_ins', 'integer'], ['in_loops', 'integer']]);

// As NDJSON output does: line separators, C1 and bidi controls escaped; and < > & so report.json can be
// inlined in an HTML <script> as it is. Each only occurs inside JSON strings, where \uXXXX means the same.
const JSON_ESCAPE = /[<>&\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
export function reportJson(data: ReportData): string {
  return JSON.stringify(data, null, 2).replace(JSON_ESCAPE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

/**
 * An earlier report of the period just before, beside this one (`reports/<previous label>/report.json`),
 * built with the same thresholds: its totals spare a second detection run. collectReport still checks them
 * against the lake's sign-in count for that period, so late data makes it recompute.
 */
async function earlierTotals(dir: string, from: string, to: string, thresholds: Record<string, number | string>): Promise<Totals | undefined> {
  const p = period(from, to);
  const prev = period(new Date(Math.floor((2 * p.fromUs - p.toUs) / 1000)).toISOString(), p.from);
  const file = join(dirname(dir), reportSlug(prev.label), 'report.json');
  try {
    const doc = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<ReportData>;
    const same = doc.schema === 'reauth-loops.report/1' && doc.period?.from === prev.from && doc.period?.to === prev.to && JSON.stringify(doc.thresholds) === JSON.stringify(thresholds);
    return same && doc.totals ? doc.totals : undefined;
  } catch {
    return undefined; // none, or unreadable: detection over the previous period gives the same numbers
  }
}

async function defaultHtml(data: ReportData): Promise<string> {
  // Loaded only when a report is written: vega is heavy, and `--help` should not pay for it.
  const { renderHtml } = await import('./html');
  return renderHtml(data);
}

/**
 * Builds the report for a period and writes it into one folder: report.md, report.html, the CSV files and
 * report.json, each atomically. Running it again for the same period rewrites the same files, byte for byte
 * unless sign-ins arrived for the period (or the one before) in between.
 */
export async function writeReport(lakeDir: string, opts: WriteReportOptions): Promise<WrittenReport> {
  const { from, to } = reportPeriod(opts);
  const p = period(from, to);
  const dir = resolve(opts.out ?? join('reports', reportSlug(p.label)));
  if (!(await isDir(lakeDir))) throw new CliError(`No lake at ${lakeDir}: create one with \`reauth-loops import <files> --lake ${lakeDir}\`.`, 2);
  const key = opts.pseudonymizeKeyFile ? await readKeyFile(opts.pseudonymizeKeyFile) : undefined;
  const thresholds = effectiveThresholds(opts.params ?? {});
  const bundle = await collectReport(lakeDir, {
    from,
    to,
    params: opts.params,
    pseudonymizeKey: key,
    previousTotals: await earlierTotals(dir, from, to, thresholds),
    db: opts.db,
  });
  const { data } = bundle;
  const html = opts.html === undefined ? defaultHtml : opts.html;

  await fsp.mkdir(dir, { recursive: true });
  const files: string[] = [];
  const put = async (name: string, text: string) => {
    await atomicWrite(join(dir, name), text);
    files.push(name);
  };
  await put('report.md', renderMarkdown(data));
  if (html) await put('report.html', await html(data));
  else await fsp.rm(join(dir, 'report.html'), { force: true });
  await put('clusters.csv', csv(data.clusters, CLUSTER_COLUMNS));
  await put('loops.csv', csv(bundle.loops, LOOP_COLUMNS));
  await put('remediation.csv', csv(data.remediation, REMEDIATION_COLUMNS));
  await put('error-codes.csv', csv(bundle.errorCodes, ERROR_CODE_COLUMNS));
  await put('report.json', reportJson(data));
  return { dir, files, data, previousSource: bundle.previousSource, torn: bundle.torn };
}

function csv(rows: ReadonlyArray<object>, columns: Column[]): string {
  return formatRows(rows as ReadonlyArray<Record<string, unknown>>, columns, 'csv') as string;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The lake's first and last day, for a hint when a period holds no sign-ins. */
export async function lakeDays(lakeDir: string): Promise<{ first: string; last: string } | null> {
  const days = [...new Set((await new Lake(lakeDir).partitionDirs()).map((d) => partitionKeyOfDir(d)?.slice(0, 10)).filter((d): d is string => !!d))].sort();
  return days.length ? { first: days[0], last: days[days.length - 1] } : null;
}

export type { LoopRow, ErrorCodeRow };
