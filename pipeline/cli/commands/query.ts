import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { CliError } from '../../errors';
import { LAYERS, type Layer } from '../../detect/detect';
import { DEFAULT_MAX_TEMP_GB, DEFAULT_TIMEOUT_MS, openSandbox } from '../../sql/sandbox';
import { emit, lakeOption, outputOptions, thresholdOptions, thresholdValues } from '../shared';

export function builder(y: Argv): Argv {
  return thresholdOptions(outputOptions(lakeOption(y)))
    .positional('sql', { type: 'string', describe: 'One read-only query (SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE) over sign_ins, prompts, loops, clusters, flagged_sessions, loop_clusters' })
    .option('file', { type: 'string', describe: 'Read the SQL from this file instead' })
    // Not `array: true`: that option is greedy and would swallow the SQL after `--param k=v` (the README's order).
    // Repeating --param still gives an array.
    .option('param', { type: 'string', describe: 'name=value bound to $name in the SQL (as text: cast with $name::INTEGER); repeat for more' })
    .option('timeout-seconds', { type: 'number', default: DEFAULT_TIMEOUT_MS / 1000, describe: 'Interrupt the query after this many seconds' })
    .option('max-temp-gb', { type: 'number', default: DEFAULT_MAX_TEMP_GB, describe: 'Cap on what DuckDB may spill to its temp directory past --memory-limit' })
    .example(`$0 query --lake ./lake "select app_display_name, count(*) from loops group by 1 order by 2 desc"`, 'which apps loop')
    .example(`$0 query --lake ./lake --file timeline.sql --param upn=ana@contoso.com`, 'one user\'s timeline, from a saved query')
    .example(`$0 query --lake ./lake "select * from sign_ins where date = '2026-04-14'" --format arrow > day.arrow`, 'Arrow IPC for pandas/polars')
    .example(`$0 query --lake ./lake "describe loops"`, 'the columns of a view')
    .epilog(
      'Values passed with --param are bound, never pasted into the SQL. The detection layers are built only when the SQL names them. ' +
        'The SQL runs in a locked-down DuckDB: it can read the views and the lake\'s Parquet (read_parquet under <lake>/sign_ins/) and nothing else; ' +
        'it cannot write files, attach databases, load extensions or change settings, and it is stopped after --timeout-seconds.',
    );
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const sql = args.file ? readFileSync(args.file as string, 'utf8') : (args.sql as string | undefined);
  if (!sql || !sql.trim()) throw new CliError('Give the SQL as an argument or with --file.', 2);
  const params: Record<string, string> = {};
  for (const p of ([] as unknown[]).concat(args.param ?? []).map(String)) {
    const eq = p.indexOf('=');
    if (eq < 1) throw new CliError(`--param wants name=value, got ${JSON.stringify(p)}`, 2);
    params[p.slice(0, eq).trim()] = p.slice(eq + 1);
  }
  // Build only as deep as the SQL reaches: a query on sign_ins alone should not pay for detection.
  // (A guess on names for speed only; the sandbox, not this, decides what the SQL may do.)
  const deepest = [...LAYERS].reverse().find((l) => new RegExp(`\\b${l.split('/')[1]}\\b`, 'i').test(sql));
  const sandbox = await openSandbox(args.lake as string, {
    memoryLimit: args['memory-limit'] as string,
    timeoutMs: Number(args['timeout-seconds']) * 1000,
    maxTempGb: Number(args['max-temp-gb']),
    thresholds: thresholdValues(args),
    upto: (deepest ?? 'staging/sign_ins') as Layer,
  });
  let result;
  try {
    result = await sandbox.run(sql, params);
  } finally {
    sandbox.close();
  }
  await emit(args, result.columns, result.rows);
}
