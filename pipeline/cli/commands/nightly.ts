import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { CliError } from '../../errors';
import { compactLake } from '../../lake/compact';
import { applyRetention, type RetentionResult } from '../../lake/retention';
import type { WrittenReport } from '../../report/write';
import type { ParamValues } from '../../sql/queries';
import { sanitizeForTerminal } from '../output';
import { namedThresholdOptions, thresholdValues } from '../shared';
import { formatBytes } from './retention';

export function builder(y: Argv): Argv {
  return namedThresholdOptions(y)
    .option('lake', { type: 'string', demandOption: true, describe: 'Lake folder' })
    .option('reports', { type: 'string', demandOption: true, describe: 'Reports folder: each night writes <reports>/<date>/' })
    .option('keep-days', { type: 'number', demandOption: true, describe: 'Retention: keep this many days of sign-ins, summaries and reports' })
    .option('quarantine-keep-days', { type: 'number', describe: 'Retention for quarantined input [default: --keep-days]' })
    .option('date', { type: 'string', describe: 'Report this UTC day, YYYY-MM-DD [default: yesterday, UTC]' })
    .option('pseudonymize-key-file', { type: 'string', describe: 'Replace UPNs and IPs in the report by keyed HMAC tokens (as `report` does)' })
    .option('memory-limit', { type: 'string', default: '1GB', describe: 'DuckDB memory limit for the report; a 10M-sign-in day needs about 2GB' })
    .option('settled-minutes', { type: 'number', default: 60, describe: 'Compact only hours that ended at least this long ago' })
    .option('wait-minutes', { type: 'number', default: 30, describe: 'How long compaction and retention wait for the lake lock' })
    .option('json', { type: 'boolean', describe: 'One JSON line per step (for journald / log shippers)' })
    .example('$0 nightly --lake /var/lib/reauth-loops/lake --reports /var/lib/reauth-loops/reports --keep-days 30', 'what the timer runs at 02:30 UTC')
    .example('$0 nightly --lake ./lake --reports ./reports --keep-days 30 --date 2026-04-14', 'redo one night (safe to repeat)')
    .epilog(
      'Runs compact, then the report for the day, then retention, and prints one line per step. Exit 0: every step ok. ' +
        'Exit 1: a step failed (named in the last line); the steps after it still run where that is safe, but retention never ' +
        'runs after a failed report, so a night that was not reported deletes nothing. Exit 2: bad options. Running it again ' +
        'for the same date is safe: compaction finds nothing left, the report is rewritten, retention finds nothing older.',
    );
}

export type StepName = 'compact' | 'report' | 'retention';
export interface StepOutcome {
  step: StepName;
  status: 'ok' | 'failed' | 'skipped';
  date: string;
  seconds: number;
  /** One line for people. */
  summary: string;
  error?: string;
  detail?: unknown;
}

/** What the report step is handed; the default runs pipeline/report/write.ts. */
export type ReportStep = (lakeDir: string, opts: { date: string; out: string; pseudonymizeKeyFile?: string; params?: ParamValues; memoryLimit?: string }) => Promise<unknown>;

export interface NightlyOptions {
  lake: string;
  reports: string;
  keepDays: number;
  quarantineKeepDays?: number;
  date?: string;
  pseudonymizeKeyFile?: string;
  /** Detection thresholds for the report, as `report` takes them. */
  params?: ParamValues;
  memoryLimit?: string;
  settledMinutes?: number;
  lockWaitMs?: number;
  now?: () => Date;
  /** Replaces the report step (tests). */
  report?: ReportStep;
  onStep?: (o: StepOutcome) => void;
}

/**
 * ── THE REPORT STEP ── the one call into the nightly report: the same writeReport (and so the same files,
 * report.html included) as `reauth-loops report --date D --out <reports>/D`. Loaded when the step runs, so
 * a broken report module fails this step only.
 */
const writeNightlyReport: ReportStep = async (lakeDir, opts) => {
  const { writeReport } = await import('../../report/write');
  return writeReport(lakeDir, { date: opts.date, out: opts.out, pseudonymizeKeyFile: opts.pseudonymizeKeyFile, params: opts.params, db: { memoryLimit: opts.memoryLimit ?? '1GB' } });
};

/** Runs the three steps in order; never throws for a step's failure (each outcome says it). */
export async function runNightly(o: NightlyOptions): Promise<StepOutcome[]> {
  const now = o.now ?? (() => new Date());
  const date = o.date ?? dayOf(now().getTime() - 86_400_000);
  for (const [name, v] of [['--keep-days', o.keepDays], ['--quarantine-keep-days', o.quarantineKeepDays ?? o.keepDays]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new CliError(`${name} wants a whole number of days, at least 1, got ${v}`, 2);
  }
  checkDate(date, now(), o.keepDays);
  const out: StepOutcome[] = [];
  const step = async (name: StepName, run: () => Promise<{ summary: string; detail?: unknown }>) => {
    const t0 = Date.now();
    let outcome: StepOutcome;
    try {
      const r = await run();
      outcome = { step: name, status: 'ok', date, seconds: (Date.now() - t0) / 1000, summary: r.summary, detail: r.detail };
    } catch (e) {
      const msg = (e as Error)?.message ?? String(e);
      outcome = { step: name, status: 'failed', date, seconds: (Date.now() - t0) / 1000, summary: msg.split('\n')[0], error: msg };
    }
    out.push(outcome);
    o.onStep?.(outcome);
    return outcome;
  };
  const skip = (name: StepName, why: string) => {
    const s: StepOutcome = { step: name, status: 'skipped', date, seconds: 0, summary: why };
    out.push(s);
    o.onStep?.(s);
  };

  // A failed compaction leaves the hour's small files as they were; readers handle those, so the report still runs.
  await step('compact', async () => {
    const st = await fsp.stat(o.lake).catch(() => null);
    if (!st?.isDirectory()) throw new Error(`${st ? 'Not a folder' : 'No lake'} at ${o.lake}: check --lake (the folder \`import\` or \`consume\` fills).`);
    const merged = await compactLake(o.lake, { settledMinutes: o.settledMinutes ?? 60, lockWaitMs: o.lockWaitMs });
    const files = merged.reduce((a, m) => a + m.files_before, 0);
    return { summary: merged.length ? `${merged.length} hour(s) merged (${files} files → ${merged.length})` : 'nothing to compact', detail: merged };
  });
  const reportDir = join(resolve(o.reports), date);
  const report = await step('report', async () => {
    const written = await (o.report ?? writeNightlyReport)(o.lake, { date, out: reportDir, pseudonymizeKeyFile: o.pseudonymizeKeyFile, params: o.params, memoryLimit: o.memoryLimit });
    return reportSummary(date, reportDir, written);
  });
  if (report.status !== 'ok') {
    skip('retention', `not run: the report for ${date} failed, and data that was never reported is not deleted`);
  } else {
    await step('retention', async () => {
      const r = await applyRetention(o.lake, { keepDays: o.keepDays, quarantineKeepDays: o.quarantineKeepDays, reportsDir: o.reports, lockWaitMs: o.lockWaitMs, now });
      return { summary: retentionLine(r), detail: r };
    });
  }
  return out;
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const json = Boolean(args.json);
  const outcomes = await runNightly({
    lake: args.lake as string,
    reports: args.reports as string,
    keepDays: args['keep-days'] as number,
    quarantineKeepDays: args['quarantine-keep-days'] as number | undefined,
    date: args.date as string | undefined,
    pseudonymizeKeyFile: args['pseudonymize-key-file'] as string | undefined,
    params: thresholdValues(args),
    memoryLimit: args['memory-limit'] as string,
    settledMinutes: args['settled-minutes'] as number,
    lockWaitMs: (args['wait-minutes'] as number) * 60_000,
    onStep: (s) => process.stdout.write(json ? JSON.stringify(s) + '\n' : `${s.date} ${s.step.padEnd(9)} ${s.status.padEnd(7)} ${s.seconds.toFixed(1).padStart(6)} s  ${sanitizeForTerminal(s.summary)}\n`),
  });
  const failed = outcomes.filter((s) => s.status === 'failed');
  if (failed.length) {
    const skipped = outcomes.filter((s) => s.status === 'skipped').map((s) => s.step);
    throw new CliError(
      `nightly: step ${failed.map((s) => s.step).join(' and ')} failed: ${failed[0].summary}` +
        (skipped.includes('retention') ? '\nRetention did not run, so nothing was deleted.' : '') +
        '\nFix the cause and run the same command again (with --date for a past night): repeating it is safe.',
      1,
    );
  }
}

function checkDate(date: string, now: Date, keepDays: number): void {
  const t = Date.parse(`${date}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !Number.isFinite(t) || dayOf(t) !== date) throw new CliError(`--date wants a UTC day as YYYY-MM-DD, got ${JSON.stringify(date)}`, 2);
  if (date > dayOf(now.getTime())) throw new CliError(`--date ${date} is in the future (today is ${dayOf(now.getTime())} UTC).`, 2);
  // Retention in the same run would delete the day just reported, and its report.
  if (date < dayOf(now.getTime() - keepDays * 86_400_000)) {
    throw new CliError(`--date ${date} is older than --keep-days ${keepDays} keeps: this run's retention would delete it. Run \`reauth-loops report\` for that day instead.`, 2);
  }
}

/** The whole ReportData is in report.json; the log line carries where it is and the headline numbers. */
function reportSummary(date: string, dir: string, written: unknown): { summary: string; detail: unknown } {
  const w = written as Partial<WrittenReport> | null;
  if (!w?.data || !Array.isArray(w.files)) return { summary: `report for ${date} in ${dir}`, detail: written };
  const t = w.data.totals;
  return {
    summary: `report for ${date} in ${dir}: ${t.looping_users} user(s) looping, ${t.loops} loop(s), ${t.clusters} cluster(s), ${t.denial_bursts} MFA-denial burst(s), ${t.sign_ins} sign-ins`,
    detail: { dir: w.dir, files: w.files, totals: t, data_through: w.data.data_through, torn: w.torn },
  };
}

function retentionLine(r: RetentionResult): string {
  const t = r.totals;
  const bytes = t.sign_ins.bytes + t.quarantine.bytes + t.imports.bytes + t.reports.bytes;
  return `deleted ${t.sign_ins.deleted} day(s) of sign-ins, ${t.quarantine.deleted} quarantine item(s), ${t.imports.deleted} summaries, ${t.reports.deleted} report(s), ${formatBytes(bytes)}; oldest day kept ${t.sign_ins.oldest_kept ?? '-'}`;
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
