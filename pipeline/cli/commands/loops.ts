import type { Argv } from 'yargs';
import { filterOptions, filterValues, type FilterName } from '../filters';
import { emit, lakeOption, namedThresholdOptions, note, outputOptions, thresholdValues } from '../shared';
import { withDetection, workbenchQuery } from '../../workbench/run';

export const LOOP_TABLE_COLUMNS = ['loop_id', 'kind', 'severity', 'user_principal_name', 'app_display_name', 'device_os', 'client_app_used', 'start', 'end', 'prompt_count', 'reauth_signal_count', 'error_codes', 'cluster_id'];
const FILTERS: FilterName[] = ['app', 'os', 'client', 'user', 'code', 'kind', 'severity', 'since', 'until'];

export function builder(y: Argv): Argv {
  return filterOptions(namedThresholdOptions(outputOptions(lakeOption(y))), FILTERS)
    .option('memory-limit', { type: 'string', default: '1GB', describe: 'DuckDB memory limit; detection on 10M sign-ins needs about 2GB' })
    .example('$0 loops --lake ./lake --app outlook --os ios', 'who is looping in Outlook on iPhones')
    .example('$0 loops --lake ./lake --code 70044 --since 2026-04-14T09:00:00Z --until 2026-04-14T12:00:00Z', 'loops with a sign-in frequency refusal, that morning')
    .example('$0 loops --lake ./lake --kind mfa_denial_burst --format csv --out bursts.csv', 'MFA-fatigue candidates, for a spreadsheet')
    .example('$0 loops --lake ./lake --user ana@contoso.com', 'one user\'s loops; then `user` or `explain LOOP_ID` for the detail')
    .epilog('Reads the loops `detect` stored in the lake (<lake>/findings/); when sign-ins landed since, or other thresholds are given, detection runs once first, as `detect`. The filters then pick loops; the period keeps loops that overlap it. Each row is a flagged session (schemas/flagged-session.schema.json).');
}

export async function handler(args: Record<string, unknown>): Promise<void> {
  const filters = filterValues(args, FILTERS);
  // detect's thresholds, without its --from/--to window: the workbench narrows by --since/--until instead
  const thresholds = thresholdValues(args);
  const { rows, total } = await withDetection(args.lake as string, thresholds, { memoryLimit: args['memory-limit'] as string }, async (conn, info) => {
    if (info.torn.length) note(`${info.torn.length} torn Parquet file(s) were moved to quarantine/torn/ and skipped.`);
    const r = await workbenchQuery(conn, 'filtered_loops', filters);
    const all = Number((await conn.runAndReadAll('select count(*) from flagged_sessions')).getRows()[0][0]);
    await emit(args, r.columns, r.rows, LOOP_TABLE_COLUMNS);
    return { rows: r.rows.length, total: all };
  });
  const filtered = Object.keys(filters).length > 0;
  note(`${rows} ${filtered ? `of ${total} ` : ''}flagged session(s)${filtered ? ' match the filters' : ''}.${rows ? ' `reauth-loops explain LOOP_ID --lake DIR` says why one was flagged; `reauth-loops user UPN --lake DIR` shows its user\'s timeline.' : ''}`);
}

