import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { CliError } from '../../errors';
import { attachLake, LAYERS, resultSet, runLayers, type Layer } from '../../detect/detect';
import { withDuckDB } from '../../sql/duckdb';
import { emit, lakeOption, outputOptions, thresholdOptions, thresholdValues } from '../shared';

export function builder(y: Argv): Argv {
  return thresholdOptions(outputOptions(lakeOption(y)))
    .positional('sql', { type: 'string', describe: 'A SELECT over sign_ins, prompts, loops, clusters, flagged_sessions, loop_clusters' })
    .option('file', { type: 'string', describe: 'Read the SQL from this file instead' })
    .option('param', { type: 'string', array: true, describe: 'name=value bound to $name in the SQL (as text: cast with $name::INTEGER)' })
    .example(`$0 query --lake ./lake "select app_display_name, count(*) from loops group by 1 order by 2 desc"`, 'which apps loop')
    .example(`$0 query --lake ./lake --file timeline.sql --param upn=ana@contoso.com`, 'one user\'s timeline, from a saved query')
    .example(`$0 query --lake ./lake "select * from sign_ins where date = '2026-04-14'" --format arrow > day.arrow`, 'Arrow IPC for pandas/polars')
    .epilog('Values passed with --param are bound, never pasted into the SQL. The detection layers are built only when the SQL names them.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const sql = args.file ? readFileSync(args.file as string, 'utf8') : (args.sql as string | undefined);
  if (!sql || !sql.trim()) throw new CliError('Give the SQL as an argument or with --file.', 2);
  const params: Record<string, string> = {};
  for (const p of (args.param as string[] | undefined) ?? []) {
    const eq = p.indexOf('=');
    if (eq < 1) throw new CliError(`--param wants name=value, got ${JSON.stringify(p)}`, 2);
    params[p.slice(0, eq).trim()] = p.slice(eq + 1);
  }
  const thresholds = thresholdValues(args);
  const result = await withDuckDB({ memoryLimit: args['memory-limit'] as string }, async (conn) => {
    await attachLake(conn, args.lake as string);
    // Build only as deep as the SQL reaches: a query on sign_ins alone should not pay for detection.
    const deepest = [...LAYERS].reverse().find((l) => new RegExp(`\\b${l.split('/')[1]}\\b`, 'i').test(sql));
    await runLayers(conn, thresholds, (deepest ?? 'staging/sign_ins') as Layer);
    try {
      return await resultSet(conn, sql, params);
    } catch (e) {
      throw new CliError(`Your SQL failed: ${(e as Error).message}`, 2);
    }
  });
  await emit(args, result.columns, result.rows);
}
