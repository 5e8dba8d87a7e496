import type { Argv } from 'yargs';
import { CliError } from '../../errors';
import { compactLake } from '../../lake/compact';
import { note } from '../shared';

export function builder(y: Argv): Argv {
  return y
    .option('lake', { type: 'string', demandOption: true, describe: 'Lake folder' })
    .option('settled-minutes', { type: 'number', default: 60, describe: 'Only hours that ended at least this long ago (late sign-ins keep coming)' })
    .option('min-files', { type: 'number', default: 2, describe: 'Only hours with at least this many files' })
    .option('partition', { type: 'string', array: true, describe: 'Only these hours, as YYYY-MM-DD/HH' })
    .option('json', { type: 'boolean', describe: 'Print what was merged as JSON' })
    .example('$0 compact --lake ./lake', 'merge every settled hour\'s small files (run it hourly, beside consume)')
    .example('$0 compact --lake ./lake --partition 2026-04-14/09 --settled-minutes 0', 'one hour, now')
    .epilog('Safe beside a running consumer: each hour is merged under the lake lock and switched in with one rename; readers see the old files or the merged one, never both.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  for (const p of (args.partition as string[] | undefined) ?? []) {
    if (!/^\d{4}-\d{2}-\d{2}\/\d{2}$/.test(p)) throw new CliError(`--partition wants YYYY-MM-DD/HH, got ${JSON.stringify(p)}`, 2);
  }
  const merged = await compactLake(args.lake as string, {
    settledMinutes: args['settled-minutes'] as number,
    minFiles: args['min-files'] as number,
    only: args.partition as string[] | undefined,
  });
  if (args.json) {
    process.stdout.write(JSON.stringify(merged) + '\n');
    return;
  }
  if (merged.length === 0) return note('Nothing to compact: no settled hour has enough files.');
  for (const m of merged) note(`${m.partition}: ${m.files_before} files → 1 (${m.rows.toLocaleString('en-US')} rows, ${(m.bytes_before / 1e6).toFixed(1)} → ${(m.bytes_after / 1e6).toFixed(1)} MB)`);
}
