import { statSync } from 'node:fs';
import { extname } from 'node:path';
import type { Argv } from 'yargs';
import { CliError } from '../errors';
import { allParams, validateParams } from '../detect/detect';
import type { ParamValues } from '../sql/queries';
import { defaultFormat, FORMATS, writeRows, writeRowsToFile, type Column, type Format } from './output';

/** Options every command that reads the lake takes; a --lake that is not a folder is an error, never an empty answer. */
export function lakeOption(y: Argv): Argv {
  return y.option('lake', { type: 'string', demandOption: true, describe: 'Lake folder (created by import)', coerce: existingLake });
}

function existingLake(path: unknown): string {
  const p = typeof path === 'string' ? path : '';
  if (!p) throw new CliError('--lake needs the lake folder that `import` or `consume` fills, e.g. --lake ./lake.', 2);
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) throw new CliError(`No lake at ${p}: check --lake (the folder \`import\` or \`consume\` fills).`, 2);
  if (!st.isDirectory()) throw new CliError(`${p} is a file, not a lake folder: --lake takes the folder \`import\` or \`consume\` fills (import a file with \`reauth-loops import ${p} --lake DIR\`).`, 2);
  return p;
}

export function outputOptions(y: Argv): Argv {
  return y
    .option('out', { type: 'string', describe: 'Write to this file (atomically) instead of stdout' })
    .option('format', { choices: FORMATS as unknown as string[], describe: 'Output format. Default: table on a terminal, NDJSON when piped or with --out (csv/json/arrow by --out extension)' })
    .option('all-columns', { type: 'boolean', describe: 'Show every column in table output' });
}

/** One CLI option per SQL threshold, named after the @param lines in queries/ (loop_gap_secs -> --loop-gap-secs). */
export function thresholdOptions(y: Argv): Argv {
  return namedThresholdOptions(y)
    .option('from', { type: 'string', describe: 'Only sign-ins at or after this time (UTC), e.g. 2026-04-14 or 2026-04-14T09:00:00Z' })
    .option('to', { type: 'string', describe: 'Only sign-ins before this time (UTC)' })
    .option('memory-limit', { type: 'string', default: '1GB', describe: 'DuckDB memory limit; detection on 10M sign-ins needs about 2GB' });
}

/** The thresholds alone, for commands that run detection on a moving window (consume --sinks, watch). */
export function namedThresholdOptions(y: Argv): Argv {
  let out = y.option('threshold', { type: 'string', array: true, describe: 'name=value for any SQL threshold (same as the named options)' });
  for (const p of allParams()) {
    if (p.name === 'from' || p.name === 'to') continue;
    out = out.option(p.name.replace(/_/g, '-'), { type: 'string', describe: `${p.doc} [${p.type}, default ${p.default}]`, group: 'Thresholds (from queries/*.sql):' });
  }
  return out;
}

export function thresholdValues(args: Record<string, unknown>): ParamValues {
  const given: ParamValues = {};
  for (const p of allParams()) {
    const v = args[p.name.replace(/_/g, '-')];
    if (v !== undefined) given[p.name] = String(v);
  }
  for (const t of (args.threshold as string[] | undefined) ?? []) {
    const eq = t.indexOf('=');
    if (eq < 1) throw new CliError(`--threshold wants name=value, got ${JSON.stringify(t)}`, 2);
    given[t.slice(0, eq).trim()] = t.slice(eq + 1);
  }
  try {
    return validateParams(given);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError((e as Error).message, 2);
  }
}

const BY_EXTENSION: Record<string, Format> = { '.csv': 'csv', '.json': 'json', '.arrow': 'arrow', '.arrows': 'arrow', '.ndjson': 'ndjson', '.jsonl': 'ndjson', '.txt': 'table' };

/** Print or write a result: a table for people, NDJSON for pipes and files, or what was asked for. */
export async function emit(args: Record<string, unknown>, columns: Column[], rows: Record<string, unknown>[], tableColumns?: string[]): Promise<void> {
  const out = args.out as string | undefined;
  const format = (args.format as Format | undefined) ?? (out ? BY_EXTENSION[extname(out).toLowerCase()] ?? 'ndjson' : defaultFormat(Boolean(process.stdout.isTTY)));
  const cols = format === 'table' && tableColumns && !args['all-columns'] ? columns.filter((c) => tableColumns.includes(c.name)) : columns;
  // Wide cells: the reason sentence is the point of the table; the terminal wraps what it must.
  const opts = { maxCellWidth: 300 };
  if (out) return writeRowsToFile(out, rows, cols, format, opts);
  if (format === 'arrow' && process.stdout.isTTY) throw new CliError('Arrow output is binary: pipe it to a file or program, or use --out result.arrow.', 2);
  await writeRows(process.stdout, rows, cols, format, opts);
}

export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}
