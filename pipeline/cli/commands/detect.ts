import type { Argv } from 'yargs';
import { detect } from '../../detect/detect';
import { emit, lakeOption, note, outputOptions, thresholdOptions, thresholdValues } from '../shared';

export const TABLE_COLUMNS = ['kind', 'severity', 'user_principal_name', 'app_display_name', 'device_os', 'start', 'prompt_count', 'cluster_id', 'reason'];

export function builder(y: Argv): Argv {
  return thresholdOptions(outputOptions(lakeOption(y)))
    .option('rebuild', { type: 'boolean', default: false, describe: 'Re-derive every finding from all sign-ins, instead of only what sign-ins landed since the last run can change (ids are kept either way)' })
    .example('$0 detect --lake ./lake', 'who is looping (table on a terminal)')
    .example('$0 detect --lake ./lake --rebuild', 'every finding from scratch (after changing queries/, or to check an update)')
    .example('$0 detect --lake ./lake --from 2026-04-14 --to 2026-04-15 --out flagged.ndjson', 'one day, as NDJSON for a SIEM')
    .example('$0 detect --lake ./lake --min-prompts 5 --loop-gap-secs 60', 'stricter thresholds')
    .epilog('Writes one object per flagged session (schemas/flagged-session.schema.json) and keeps the findings in the lake (<lake>/findings/), where loops, clusters, explain and user read them. The definition of a loop is the SQL in queries/detect/.');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const params = thresholdValues(args);
  const r = await detect(args.lake as string, params, { memoryLimit: args['memory-limit'] as string }, { rebuild: args.rebuild as boolean });
  if (r.torn.length) note(`${r.torn.length} torn Parquet file(s) were moved to quarantine/torn/ and skipped.`);
  await emit(args, r.flagged.columns, r.flagged.rows, TABLE_COLUMNS);
  const how = r.mode === 'updated' ? `; updated from ${r.from} on, where new sign-ins landed` : r.mode === 'current' ? '; nothing new since the last run' : '';
  note(`${r.flagged.rows.length} flagged session(s), ${r.clusters.rows.length} cluster(s), from ${r.signIns.toLocaleString('en-US')} sign-ins in ${r.files} file(s)${how}.`);
}
